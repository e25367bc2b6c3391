from batch.jobs import ProcessPaymentsJob
from batch.management.commands._batch_command import BatchCommand


class Command(BatchCommand):
    help = "Process continuity payments: charge every shipment that is due."
    job = ProcessPaymentsJob.name
