from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from core.limits import validate_business_date, validate_quantity
from core.money import CurrencyField, MoneyField
from core.services import StatusMachine

# Defined beside its charge rule; importing it here registers it with the orders app.
from orders.delivery import DeliveryMode

# Carriers, warehouse shipments and invoices are orders models too (orders.fulfilment).
from orders.fulfilment.models import (  # noqa: F401
    Carrier,
    Invoice,
    InvoiceLine,
    ShipmentSource,
    WarehouseShipment,
    WarehouseShipmentLine,
)
from orders.priced import (
    PricedDocument,
    PricedLine,
    amount_of_quantity,
    line_tax_not_negative,
    parts_not_negative,
    total_adds_up,
)

# The tax tables are orders models too (app label "orders"), kept in their own module.
from orders.tax.models import PriceTaxBasis, TaxGroup, TaxJurisdiction, TaxRate  # noqa: F401


class Item(models.Model):
    item_number = models.CharField(_("item number"), max_length=20, unique=True)
    name = models.CharField(_("name"), max_length=120)
    # The check constraint below, as a field error the admin shows at the field.
    unit_price = MoneyField(_("unit price"), validators=[MinValueValidator(0)])
    active = models.BooleanField(_("active"), default=True)
    continuity_program = models.ForeignKey(
        "continuity.ContinuityProgram",
        verbose_name=_("continuity program"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="items",
        help_text=_("Set on a continuity item: selling it starts this program."),
    )
    tax_group = models.ForeignKey(
        TaxGroup,
        verbose_name=_("tax group"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="items",
        help_text=_("Empty: the default Standard tax group."),
    )

    class Meta:
        verbose_name = _("item")
        verbose_name_plural = _("items")
        ordering = ["item_number"]
        constraints = [
            models.CheckConstraint(condition=Q(unit_price__gte=0), name="item_unit_price_gte_0"),
            models.CheckConstraint(condition=~Q(item_number=""), name="item_number_not_empty"),
        ]

    def __str__(self):
        return f"{self.item_number} {self.name}"

    @property
    def is_continuity(self) -> bool:
        return self.continuity_program_id is not None


class SalesOrderKind(models.TextChoices):
    STANDARD = "standard", _("Standard")
    CONTINUITY_PARENT = "continuity_parent", _("Continuity parent")
    CONTINUITY_CHILD = "continuity_child", _("Continuity child")


class SalesOrderStatus(models.TextChoices):
    OPEN = "open", _("Open")
    # Paid and accepted (a child order: created by the job), not yet handed to the
    # warehouse. The only status after Open in which an order may still be cancelled.
    SUBMITTED = "submitted", _("Submitted")
    RELEASED = "released", _("Released")
    PARTIALLY_SHIPPED = "partially_shipped", _("Partially shipped")
    SHIPPED = "shipped", _("Shipped")
    INVOICED = "invoiced", _("Invoiced")
    # Its own context: French says "Terminée" of an order, "Terminé" of a subscription.
    COMPLETED = "completed", pgettext_lazy("sales order status", "Completed")
    CANCELLED = "cancelled", _("Cancelled")


SALES_ORDER_STATUS = StatusMachine(
    SalesOrderStatus,
    {
        SalesOrderStatus.OPEN: {SalesOrderStatus.SUBMITTED, SalesOrderStatus.CANCELLED},
        # A parent order completes from Submitted when its program is over and every
        # child order is invoiced or cancelled (docs/fulfilment.md).
        SalesOrderStatus.SUBMITTED: {
            SalesOrderStatus.RELEASED,
            SalesOrderStatus.CANCELLED,
            SalesOrderStatus.COMPLETED,
        },
        # Released: the warehouse has it; it ships, it is no longer cancelled.
        SalesOrderStatus.RELEASED: {
            SalesOrderStatus.PARTIALLY_SHIPPED,
            SalesOrderStatus.SHIPPED,
        },
        SalesOrderStatus.PARTIALLY_SHIPPED: {SalesOrderStatus.SHIPPED},
        SalesOrderStatus.SHIPPED: {SalesOrderStatus.INVOICED},
        # Completed once nothing is left to pay on its invoices.
        SalesOrderStatus.INVOICED: {SalesOrderStatus.COMPLETED},
        SalesOrderStatus.COMPLETED: set(),
        SalesOrderStatus.CANCELLED: set(),
    },
)

# Named sets of order statuses (docs/fulfilment.md draws the machine).
# With the warehouse: on its pick list, or shipped in part.
WITH_WAREHOUSE = frozenset({SalesOrderStatus.RELEASED, SalesOrderStatus.PARTIALLY_SHIPPED})
# Nothing of it is left to ship: what closes a parent order.
FULFILLED_OR_CANCELLED = frozenset(
    {SalesOrderStatus.INVOICED, SalesOrderStatus.COMPLETED, SalesOrderStatus.CANCELLED}
)


class SalesOrder(PricedDocument):
    # Numbers come from a database sequence (orders.numbers), never from max()+1. Unique
    # by a constraint in Meta, not unique=True: on PostgreSQL that would add a second,
    # pattern-matching index (varchar_pattern_ops) which no query uses (the sales-orders
    # lookup reads a prefix as a range of the unique index, continuity.lookups), and which
    # every order written, each child order of a batch run, would pay for.
    number = models.CharField(_("sales order"), max_length=20)
    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.PROTECT,
        related_name="sales_orders",
        # sales_order_customer_idx (customer, -created_at) serves every lookup by customer.
        db_index=False,
    )
    kind = models.CharField(
        _("kind"), max_length=20, choices=SalesOrderKind.choices, default=SalesOrderKind.STANDARD
    )
    status = models.CharField(
        _("status"), max_length=20, choices=SalesOrderStatus.choices, default=SalesOrderStatus.OPEN
    )
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent order"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="child_orders",
    )
    ship_to = models.ForeignKey(
        "customers.Address",
        verbose_name=_("ship-to address"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    currency = CurrencyField(_("currency"))
    # subtotal + delivery (+ tax where prices exclude it): the lines' gross amounts.
    total = MoneyField(_("total"), default=0)
    amount_due = MoneyField(
        _("amount due now"),
        default=0,
        help_text=_(
            "What the card is charged at submit: regular lines plus the first "
            "shipment, or the whole program when it is billed up front, each with its "
            "delivery and tax."
        ),
    )
    # Set by Complete; cleared by any change to the lines, so that the amount due that is
    # charged is always the one the agent saw on the summary.
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    payment_method = models.ForeignKey(
        "payments.PaymentMethod",
        verbose_name=_("method of payment"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        # Indexed in Meta where set: a child order has none (a batch run writes thousands).
        db_index=False,
    )
    payment_card = models.ForeignKey(
        "payments.Card",
        verbose_name=_("card"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        # Indexed in Meta where set: a child order has none (a batch run writes thousands).
        db_index=False,
    )
    # Empty: the default delivery mode (docs/delivery.md).
    delivery_mode = models.ForeignKey(
        DeliveryMode,
        verbose_name=_("delivery mode"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("Empty: the default delivery mode."),
        # Indexed in Meta where set: most orders, child orders included, ship by the
        # default mode, and the index only serves refusing to delete a mode in use.
        db_index=False,
    )
    order_date = models.DateField(_("order date"), null=True, blank=True)
    requested_ship_date = models.DateField(_("requested ship date"), null=True, blank=True)
    submitted_at = models.DateTimeField(_("submitted at"), null=True, blank=True)
    released_at = models.DateTimeField(_("released at"), null=True, blank=True)
    # What made the order when no agent did, e.g. "batch-run:42" for a child order.
    # Indexed in Meta (sales_order_source_idx): db_index would add a pattern-matching
    # index too, which no query uses (a run's orders are read by their exact source).
    source_reference = models.CharField(_("source"), max_length=40, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        # Indexed in Meta where set: a child order has none (a batch run writes thousands).
        db_index=False,
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("sales order")
        verbose_name_plural = _("sales orders")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["number"], name="sales_order_number_unique"),
            models.CheckConstraint(condition=~Q(number=""), name="sales_order_number_not_empty"),
            models.CheckConstraint(condition=Q(total__gte=0), name="sales_order_total_gte_0"),
            models.CheckConstraint(
                condition=Q(amount_due__gte=0), name="sales_order_amount_due_gte_0"
            ),
            total_adds_up("total", "sales_order_total_adds_up"),
            *parts_not_negative("sales_order"),
            # A child order always has its parent; no other kind has one.
            models.CheckConstraint(
                condition=(
                    Q(kind=SalesOrderKind.CONTINUITY_CHILD, parent__isnull=False)
                    | (~Q(kind=SalesOrderKind.CONTINUITY_CHILD) & Q(parent__isnull=True))
                ),
                name="sales_order_parent_only_on_child",
            ),
            models.CheckConstraint(
                condition=~Q(status=SalesOrderStatus.SUBMITTED) | Q(submitted_at__isnull=False),
                name="sales_order_submitted_has_date",
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "-created_at"], name="sales_order_customer_idx"),
            models.Index(fields=["source_reference"], name="sales_order_source_idx"),
            # What refuses to delete a card, method, user or delivery mode that orders
            # name: only the orders that name one are in these indexes.
            *(
                models.Index(
                    fields=[field],
                    condition=Q(**{f"{field}__isnull": False}),
                    name=f"sales_order_{field}_idx",
                )
                for field in ("payment_method", "payment_card", "created_by", "delivery_mode")
            ),
            # The warehouse's pick list: released orders, oldest release first.
            models.Index(
                fields=["released_at"],
                condition=Q(status__in=["released", "partially_shipped"]),
                name="sales_order_pick_list_idx",
            ),
            # The sales-orders lookup (continuity.lookups): sold parent orders, newest
            # first, with their customer, read from the index alone.
            models.Index(
                F("id").desc(),
                "customer",
                condition=Q(kind="continuity_parent") & ~Q(status="open"),
                name="sales_order_parent_lookup_idx",
            ),
        ]

    def __str__(self):
        return self.number


class SalesOrderLine(PricedLine):
    order = models.ForeignKey(
        SalesOrder,
        verbose_name=_("sales order"),
        on_delete=models.CASCADE,
        related_name="lines",
        # The unique (order, line_number) serves every lookup by order.
        db_index=False,
    )
    line_number = models.PositiveIntegerField(_("line"))
    item = models.ForeignKey(
        Item, verbose_name=_("item"), on_delete=models.PROTECT, related_name="+"
    )
    quantity = models.PositiveIntegerField(_("quantity"), default=1, validators=[validate_quantity])
    unit_price = MoneyField(_("unit price"))
    amount = MoneyField(_("amount"))
    # What the warehouse has confirmed as shipped of this line (orders.fulfilment).
    shipped_quantity = models.PositiveIntegerField(_("shipped"), default=0, db_default=0)
    # On a continuity line: the date the program starts (the order date unless the
    # program prompts for one). Empty on other lines.
    continuity_start_date = models.DateField(
        _("start date"), null=True, blank=True, validators=[validate_business_date]
    )
    # On an open order's continuity line: the shipments paid at submit as they were priced
    # when the order was last checked for submit (orders.services), so that the
    # subscription stores exactly what the card was charged, whatever changes while the
    # payment service answers. Empty on other lines.
    # With them, the program as it was priced then: the subscription is made from it, so
    # that an edit of the program while the sale is answered changes nothing that was sold.
    program_as_sold = models.JSONField(_("program as sold"), null=True, blank=True, editable=False)
    paid_shipments = models.JSONField(
        _("shipments paid at submit"), null=True, blank=True, default=list, editable=False
    )
    # On a child order: the occurrence line this order line fulfils. Unique, so that the
    # database itself refuses a second child order for the same shipment.
    occurrence_line = models.OneToOneField(
        "continuity.OccurrenceLine",
        verbose_name=_("occurrence line"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="child_order_line",
    )

    class Meta:
        verbose_name = _("sales order line")
        verbose_name_plural = _("sales order lines")
        ordering = ["order", "line_number"]
        constraints = [
            models.UniqueConstraint(
                fields=["order", "line_number"], name="sales_order_line_number_unique"
            ),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="sales_order_line_qty_gt_0"),
            models.CheckConstraint(
                condition=Q(shipped_quantity__lte=F("quantity")),
                name="sales_order_line_shipped_within_quantity",
            ),
            models.CheckConstraint(
                condition=Q(unit_price__gte=0), name="sales_order_line_price_gte_0"
            ),
            models.CheckConstraint(
                condition=Q(amount=amount_of_quantity()),
                name="sales_order_line_amount_is_qty_times_price",
            ),
            *line_tax_not_negative("sales_order_line"),
        ]

    def __str__(self):
        return f"{self.order.number}/{self.line_number}"


class NumberSequence(models.Model):
    """Fallback counter for databases without sequences (SQLite in `make run`).

    On PostgreSQL, numbers come from real sequences created by migration, which never
    block concurrent transactions.
    """

    name = models.CharField(max_length=40, primary_key=True)
    last_value = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("number sequence")
        verbose_name_plural = _("number sequences")

    def __str__(self):
        return f"{self.name}={self.last_value}"
