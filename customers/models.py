import re

from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.money import CurrencyField


def digits_only(value: str) -> str:
    return re.sub(r"\D", "", value or "")


class Language(models.TextChoices):
    ENGLISH = "en", _("English")
    FRENCH = "fr", _("French")


class Customer(models.Model):
    account_number = models.CharField(_("account number"), max_length=20, unique=True)
    first_name = models.CharField(_("first name"), max_length=80)
    last_name = models.CharField(_("last name"), max_length=80)
    email = models.EmailField(_("email"), blank=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    language = models.CharField(
        _("language"), max_length=2, choices=Language.choices, default=Language.ENGLISH
    )
    # The customer's price list: the currency their orders are priced and charged in, and
    # with it whether prices include tax (orders.tax.models.PriceTaxBasis).
    currency = CurrencyField(
        _("currency"),
        validators=[
            RegexValidator(
                r"^[A-Z]{3}\Z", _("Enter a three-letter ISO 4217 currency code, e.g. USD or EUR.")
            )
        ],
        help_text=_(
            "The customer's price list: new orders are priced and charged in it. Orders "
            "and subscriptions already made keep theirs."
        ),
    )
    blocked = models.BooleanField(
        _("blocked"), default=False, help_text=_("A blocked customer cannot place orders.")
    )
    # Derived, not entered: lower-case names, account number, email and phone digits in one
    # column, so one trigram index (created on PostgreSQL by migration 0002) serves a
    # search on any of them. Kept current by save(); bulk writers must call
    # build_search_document themselves.
    search_document = models.TextField(editable=False, default="")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        ordering = ["last_name", "first_name", "account_number"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(account_number=""), name="customer_account_number_not_empty"
            ),
        ]
        indexes = [
            models.Index(fields=["last_name", "first_name"], name="customer_name_idx"),
        ]

    def __str__(self):
        return f"{self.account_number} {self.full_name}"

    def save(self, *args, **kwargs):
        self.search_document = self.build_search_document(
            account_number=self.account_number,
            first_name=self.first_name,
            last_name=self.last_name,
            email=self.email,
            phone=self.phone,
        )
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            kwargs["update_fields"] = {*update_fields, "search_document"}
        super().save(*args, **kwargs)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @staticmethod
    def build_search_document(
        *, account_number: str, first_name: str, last_name: str, email: str, phone: str
    ) -> str:
        parts = [account_number, first_name, last_name, email, digits_only(phone)]
        return " ".join(part.strip().lower() for part in parts if part and part.strip())


class AddressKind(models.TextChoices):
    BILLING = "billing", _("Billing")
    SHIPPING = "shipping", _("Shipping")


class Address(models.Model):
    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="addresses"
    )
    kind = models.CharField(_("kind"), max_length=10, choices=AddressKind.choices)
    name = models.CharField(_("name"), max_length=120, blank=True)
    street = models.CharField(_("street"), max_length=200)
    city = models.CharField(_("city"), max_length=100)
    state = models.CharField(_("state or province"), max_length=100, blank=True)
    postal_code = models.CharField(_("postal code"), max_length=20)
    country = models.CharField(_("country"), max_length=2, default="US")
    is_default = models.BooleanField(_("default"), default=False)

    class Meta:
        verbose_name = _("address")
        verbose_name_plural = _("addresses")
        ordering = ["customer", "kind", "-is_default", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "kind"],
                condition=Q(is_default=True),
                name="address_one_default_per_kind",
                violation_error_message=_("Only one address of each kind can be the default."),
            ),
        ]

    def __str__(self):
        return self.one_line

    @property
    def one_line(self) -> str:
        parts = [self.street, self.city, f"{self.state} {self.postal_code}".strip(), self.country]
        return ", ".join(part for part in parts if part)
