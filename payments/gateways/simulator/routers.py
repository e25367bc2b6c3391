class SimulatorLedgerRouter:
    """The simulator's tables are read and written through the `gateway` connection.

    That connection has its own transactions, so a charge the simulator recorded stays
    recorded when our transaction rolls back, just as it would at a real gateway.
    """

    app_label = "gateway_simulator"

    def db_for_read(self, model, **hints):
        return "gateway" if model._meta.app_label == self.app_label else None

    def db_for_write(self, model, **hints):
        return "gateway" if model._meta.app_label == self.app_label else None
