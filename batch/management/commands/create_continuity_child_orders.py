from batch.management.commands._batch_command import BatchCommand
from batch.models import BatchJob


class Command(BatchCommand):
    help = "Create continuity child orders for every paid shipment that is due."
    job = BatchJob.CREATE_CHILD_ORDERS
    takes_limit = True
