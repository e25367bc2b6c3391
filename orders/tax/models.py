"""The tax tables an administrator keeps: what kind of goods a line is (its group), where
it ships (a jurisdiction), and the rate of each group there, with the dates it applies.
Imported by orders.models, so that they are the orders app's models."""

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Upper
from django.utils.translation import gettext_lazy as _

from core.config_version import config_version_lock
from core.formatting import in_language
from core.money import CurrencyField

# A rate is a percentage with four decimals: 10.2500 (Seattle), 5.5000 (French reduced VAT).
RATE_MAX_DIGITS = 7
RATE_DECIMAL_PLACES = 4


class TaxGroupKind(models.TextChoices):
    STANDARD = "standard", _("Standard")
    REDUCED = "reduced", _("Reduced rate")
    EXEMPT = "exempt", _("Exempt")
    DELIVERY = "delivery", _("Delivery")


class TaxGroup(models.Model):
    """What kind of goods a line is, for tax: each jurisdiction gives each group a rate."""

    code = models.CharField(_("code"), max_length=20, unique=True)
    name_en = models.CharField(_("name (English)"), max_length=60)
    name_fr = models.CharField(_("name (French)"), max_length=60)
    kind = models.CharField(
        _("kind"), max_length=10, choices=TaxGroupKind.choices, default=TaxGroupKind.STANDARD
    )
    is_default = models.BooleanField(
        _("default of its kind"),
        default=False,
        help_text=_(
            "Items without a tax group are taxed in the default Standard group; delivery "
            "in the default Delivery group."
        ),
    )

    class Meta:
        verbose_name = _("tax group")
        verbose_name_plural = _("tax groups")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=~Q(code=""), name="tax_group_code_not_empty"),
            models.UniqueConstraint(
                fields=["kind"],
                condition=Q(is_default=True),
                name="tax_group_one_default_per_kind",
                violation_error_message=_("Only one tax group of each kind can be the default."),
            ),
        ]

    def __str__(self):
        return f"{self.code} {self.name}"

    @property
    def name(self) -> str:
        """The name in the active language."""
        return in_language(self.name_en, self.name_fr)

    def clean(self):
        # An exempt group takes no rate (tax_rates_check refuses one for it). A group that
        # has rates cannot become exempt; its row is locked for the rest of the admin's
        # save, as tax_rates_check locks it, so a rate added meanwhile waits for this.
        if self.pk is None or self.kind != TaxGroupKind.EXEMPT:
            return
        # The configuration version's row first, as tax_rates_check takes it: the save
        # that follows takes it too, and would otherwise wait for a rate check holding it
        # while that check waits for this group's row.
        config_version_lock()
        TaxGroup.objects.select_for_update(no_key=True).filter(pk=self.pk).first()
        if TaxRate.objects.filter(group_id=self.pk).exists():
            raise ValidationError(
                {"kind": _("This group has rates: delete them before making it exempt.")}
            )


class TaxJurisdiction(models.Model):
    """Where tax is collected at one set of rates: a country, a region or state in it, or
    the postal codes that start with a prefix. A ship-to address is taxed by the most
    specific jurisdiction that matches it (orders.tax.provider)."""

    name = models.CharField(
        _("name"),
        max_length=80,
        help_text=_("As the receipt shows it, e.g. Seattle, WA or France."),
    )
    country = models.CharField(
        _("country"),
        max_length=2,
        validators=[
            RegexValidator(r"^[A-Z]{2}\Z", _("Enter the two capital letters of an ISO 3166 code."))
        ],
        help_text=_("ISO 3166 code, as on addresses: US, FR."),
    )
    region = models.CharField(
        _("region or state"),
        max_length=100,
        blank=True,
        help_text=_("As addresses write it, e.g. WA. Empty: the whole country."),
    )
    postal_prefix = models.CharField(
        _("postal code prefix"),
        max_length=20,
        blank=True,
        validators=[
            RegexValidator(r"^[A-Za-z0-9]*\Z", _("Enter letters and digits only, no spaces."))
        ],
        help_text=_("Postal codes that start with it, e.g. 981. Empty: any postal code."),
    )

    class Meta:
        verbose_name = _("tax jurisdiction")
        verbose_name_plural = _("tax jurisdictions")
        ordering = ["country", "region", "postal_prefix"]
        constraints = [
            models.CheckConstraint(condition=~Q(name=""), name="tax_jurisdiction_name_not_empty"),
            models.CheckConstraint(
                condition=Q(country__regex=r"^[A-Z]{2}$"), name="tax_jurisdiction_country_iso"
            ),
            # Two jurisdictions for the same place would make "the most specific" ambiguous.
            models.UniqueConstraint(
                "country",
                Upper("region"),
                Upper("postal_prefix"),
                name="tax_jurisdiction_place_unique",
                violation_error_message=_(
                    "A tax jurisdiction for this country, region and postal code prefix "
                    "already exists."
                ),
            ),
        ]

    def __str__(self):
        return self.name


class TaxRate(models.Model):
    """The rate of one tax group in one jurisdiction, from one date (to another, or for
    good). The ranges of a jurisdiction's group never overlap: orders.tax.services checks
    it under the jurisdiction's row lock (PostgreSQL would need btree_gist to say it)."""

    jurisdiction = models.ForeignKey(
        TaxJurisdiction,
        verbose_name=_("tax jurisdiction"),
        on_delete=models.CASCADE,
        related_name="rates",
    )
    group = models.ForeignKey(
        TaxGroup, verbose_name=_("tax group"), on_delete=models.PROTECT, related_name="rates"
    )
    rate = models.DecimalField(
        _("rate (%)"),
        max_digits=RATE_MAX_DIGITS,
        decimal_places=RATE_DECIMAL_PLACES,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text=_("A percentage, e.g. 10.25 or 5.5."),
    )
    effective_from = models.DateField(_("effective from"))
    effective_to = models.DateField(
        _("effective to"),
        null=True,
        blank=True,
        help_text=_("The last day the rate applies. Empty: until another rate replaces it."),
    )

    class Meta:
        verbose_name = _("tax rate")
        verbose_name_plural = _("tax rates")
        ordering = ["jurisdiction", "group", "effective_from"]
        constraints = [
            models.CheckConstraint(
                condition=Q(rate__gte=0, rate__lte=100), name="tax_rate_between_0_and_100"
            ),
            models.CheckConstraint(
                condition=Q(effective_to__isnull=True) | Q(effective_to__gte=F("effective_from")),
                name="tax_rate_ends_after_it_starts",
                violation_error_message=_("A rate cannot end before it starts."),
            ),
            models.UniqueConstraint(
                fields=["jurisdiction", "group", "effective_from"],
                name="tax_rate_one_start_per_group",
            ),
        ]

    def __str__(self):
        return f"{self.jurisdiction} {self.group.code} {self.rate} %"


class PriceTaxBasis(models.Model):
    """Whether the prices of one currency include tax (French TVA: they do) or exclude it
    (US sales tax). A currency without a row: its prices exclude tax."""

    currency = CurrencyField(
        _("currency"),
        unique=True,
        validators=[
            RegexValidator(
                r"^[A-Z]{3}\Z", _("Enter the three capital letters of an ISO 4217 code.")
            )
        ],
    )
    prices_include_tax = models.BooleanField(_("prices include tax"), default=False)

    class Meta:
        verbose_name = _("price tax basis")
        verbose_name_plural = _("price tax bases")
        ordering = ["currency"]
        constraints = [
            models.CheckConstraint(
                condition=Q(currency__regex=r"^[A-Z]{3}$"), name="price_tax_basis_currency_iso"
            ),
        ]

    def __str__(self):
        return self.currency
