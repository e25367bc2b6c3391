"""Carriers, the warehouse's shipment confirmations and the invoices they make (app label
"orders"; imported by orders.models so that Django finds them)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from core.money import CurrencyField, MoneyField
from orders.priced import (
    PricedDocument,
    PricedLine,
    amount_of_quantity,
    line_tax_not_negative,
    parts_not_negative,
    total_adds_up,
)


class Carrier(models.Model):
    """Who carries a parcel, and the page where a customer follows it."""

    code = models.CharField(_("code"), max_length=20, unique=True)
    name = models.CharField(_("name"), max_length=80)
    # "https://www.ups.com/track?tracknum={tracking_number}": the email's link.
    tracking_url = models.CharField(
        _("tracking page"),
        max_length=300,
        blank=True,
        help_text=_("The carrier's tracking page, with {tracking_number} where the number goes."),
    )
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("carrier")
        verbose_name_plural = _("carriers")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=~Q(code=""), name="carrier_code_not_empty"),
            models.UniqueConstraint(
                models.functions.Upper("code"), name="carrier_code_unique_any_case"
            ),
        ]

    def __str__(self):
        return f"{self.code} {self.name}"

    def tracking_link(self, tracking_number: str) -> str:
        if not self.tracking_url or "{tracking_number}" not in self.tracking_url:
            return ""
        from urllib.parse import quote

        return self.tracking_url.replace("{tracking_number}", quote(tracking_number, safe=""))


class ShipmentSource(models.TextChoices):
    API = "api", _("Warehouse API")
    CSV = "csv", _("Uploaded file")


class WarehouseShipment(models.Model):
    """One parcel the warehouse confirms as shipped: some quantities of an order's lines.
    `warehouse_reference` is the warehouse's own id for it; it is unique, so a
    confirmation sent twice (a retry, a file uploaded again) is recorded once."""

    order = models.ForeignKey(
        "orders.SalesOrder",
        verbose_name=_("sales order"),
        on_delete=models.PROTECT,
        related_name="warehouse_shipments",
    )
    warehouse_reference = models.CharField(_("warehouse shipment id"), max_length=64, unique=True)
    carrier = models.ForeignKey(
        Carrier, verbose_name=_("carrier"), on_delete=models.PROTECT, related_name="+"
    )
    tracking_number = models.CharField(_("tracking number"), max_length=64)
    shipped_date = models.DateField(_("shipped date"))
    source = models.CharField(_("source"), max_length=8, choices=ShipmentSource.choices)
    # What was confirmed, as a fingerprint of its normalised content: the same id sent
    # again with other content is refused, not taken as a replay.
    fingerprint = models.CharField(max_length=64, editable=False)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("recorded by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("warehouse shipment")
        verbose_name_plural = _("warehouse shipments")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(warehouse_reference=""), name="warehouse_shipment_reference_not_empty"
            ),
            models.CheckConstraint(
                condition=~Q(tracking_number=""), name="warehouse_shipment_tracking_not_empty"
            ),
        ]

    def __str__(self):
        return self.warehouse_reference


class WarehouseShipmentLine(models.Model):
    shipment = models.ForeignKey(
        WarehouseShipment,
        verbose_name=_("warehouse shipment"),
        on_delete=models.CASCADE,
        related_name="lines",
    )
    order_line = models.ForeignKey(
        "orders.SalesOrderLine",
        verbose_name=_("sales order line"),
        on_delete=models.PROTECT,
        related_name="shipment_lines",
    )
    quantity = models.PositiveIntegerField(_("quantity"))

    class Meta:
        verbose_name = _("warehouse shipment line")
        verbose_name_plural = _("warehouse shipment lines")
        ordering = ["shipment", "order_line"]
        constraints = [
            models.UniqueConstraint(
                fields=["shipment", "order_line"], name="warehouse_shipment_line_once"
            ),
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="warehouse_shipment_line_qty_gt_0"
            ),
        ]

    def __str__(self):
        return f"{self.shipment_id}: {self.order_line_id} x {self.quantity}"


class Invoice(PricedDocument):
    """What one warehouse shipment bills: its lines' share of the order's lines, the
    order's delivery charge on its first invoice, their tax, and the payment applied to
    it. Numbers come from their own sequence (orders.numbers)."""

    number = models.CharField(_("invoice"), max_length=20, unique=True)
    order = models.ForeignKey(
        "orders.SalesOrder",
        verbose_name=_("sales order"),
        on_delete=models.PROTECT,
        related_name="invoices",
    )
    shipment = models.OneToOneField(
        WarehouseShipment,
        verbose_name=_("warehouse shipment"),
        on_delete=models.PROTECT,
        related_name="invoice",
    )
    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.PROTECT,
        related_name="invoices",
    )
    invoice_date = models.DateField(_("invoice date"))
    currency = CurrencyField(_("currency"))
    total = MoneyField(_("total"), default=0)
    # The part of the order's payment (a child order: its shipment's charge) that pays
    # this invoice; what is left to pay is total - payment_applied.
    payment = models.ForeignKey(
        "payments.Payment",
        verbose_name=_("payment"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="invoices",
    )
    payment_applied = MoneyField(_("payment applied"), default=0)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("invoice")
        verbose_name_plural = _("invoices")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(number=""), name="invoice_number_not_empty"),
            models.CheckConstraint(condition=Q(total__gte=0), name="invoice_total_gte_0"),
            models.CheckConstraint(
                condition=Q(payment_applied__gte=0) & Q(payment_applied__lte=F("total")),
                name="invoice_payment_applied_within_total",
            ),
            total_adds_up("total", "invoice_total_adds_up"),
            *parts_not_negative("invoice"),
        ]

    def __str__(self):
        return self.number

    @property
    def balance(self):
        return self.total - self.payment_applied


class InvoiceLine(PricedLine):
    invoice = models.ForeignKey(
        Invoice, verbose_name=_("invoice"), on_delete=models.CASCADE, related_name="lines"
    )
    line_number = models.PositiveIntegerField(_("line"))
    order_line = models.ForeignKey(
        "orders.SalesOrderLine",
        verbose_name=_("sales order line"),
        on_delete=models.PROTECT,
        related_name="invoice_lines",
    )
    item = models.ForeignKey(
        "orders.Item", verbose_name=_("item"), on_delete=models.PROTECT, related_name="+"
    )
    quantity = models.PositiveIntegerField(_("quantity"))
    unit_price = MoneyField(_("unit price"))
    amount = MoneyField(_("amount"))

    class Meta:
        verbose_name = _("invoice line")
        verbose_name_plural = _("invoice lines")
        ordering = ["invoice", "line_number"]
        constraints = [
            models.UniqueConstraint(
                fields=["invoice", "line_number"], name="invoice_line_number_unique"
            ),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="invoice_line_qty_gt_0"),
            models.CheckConstraint(
                condition=Q(amount=amount_of_quantity()),
                name="invoice_line_amount_is_qty_times_price",
            ),
            *line_tax_not_negative("invoice_line"),
        ]

    def __str__(self):
        return f"{self.invoice.number}/{self.line_number}"
