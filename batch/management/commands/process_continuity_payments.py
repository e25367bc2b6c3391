from batch.management.commands._batch_command import BatchCommand
from batch.models import BatchJob


class Command(BatchCommand):
    help = "Process continuity payments: charge every shipment that is due."
    job = BatchJob.PROCESS_PAYMENTS
