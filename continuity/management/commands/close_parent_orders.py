from django.core.management.base import CommandError

from continuity.fulfilment import parent_orders_close
from core.actors import Actor
from core.management.one_line import OneLineErrorCommand
from orders.models import SalesOrder, SalesOrderKind


class Command(OneLineErrorCommand):
    help = (
        "Complete the continuity parent orders that are done: every subscription of the "
        "order has ended and every child order is invoiced, completed or cancelled. The "
        "child-order job does it after each run; this does it now. Exit status: 0, or 2 "
        "on bad arguments."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--order",
            metavar="NUMBER",
            help="only this parent order (its number, e.g. SO-000123)",
        )

    def handle(self, *args, order, **options):
        parent_ids = None
        if order is not None:
            parent = SalesOrder.objects.filter(number=order.strip().upper()[:20]).first()
            if parent is None:
                raise CommandError(f"Sales order {order[:20]} does not exist.", returncode=2)
            if parent.kind != SalesOrderKind.CONTINUITY_PARENT:
                raise CommandError(
                    f"Sales order {parent.number} is not a continuity parent order.",
                    returncode=2,
                )
            parent_ids = [parent.pk]
        closed = parent_orders_close(
            actor=Actor.job("close_parent_orders command"), parent_order_ids=parent_ids
        )
        for number in closed:
            self.stdout.write(f"Completed {number}.")
        self.stdout.write(f"Parent orders completed: {len(closed)}.")
