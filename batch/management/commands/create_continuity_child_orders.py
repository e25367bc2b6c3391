from batch.jobs import CreateChildOrdersJob
from batch.management.commands._batch_command import BatchCommand


class Command(BatchCommand):
    help = "Create continuity child orders for every paid shipment that is due."
    job = CreateChildOrdersJob.name
