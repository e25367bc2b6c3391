from django.db import models
from django.utils.translation import gettext_lazy as _


class MoneyAudit(models.Model):
    """One comparison of our books with themselves and with the gateway's ledger
    (continuity.money_audit): made by `manage.py audit_money`, nightly by beat, and at the
    end of every payment run. Its findings are listed on the payment exceptions page."""

    source = models.CharField(_("made by"), max_length=60)
    started_at = models.DateTimeField(_("started at"))
    finished_at = models.DateTimeField(_("finished at"))
    # The gateway's ledger was compared from here on (None: all of it).
    ledger_since = models.DateTimeField(_("ledger compared since"), null=True, blank=True)
    finding_count = models.PositiveIntegerField(_("findings"), default=0)
    # [{"kind": ..., "subject": ..., "detail": ..., "occurrence": id, "payment": id}]
    findings = models.JSONField(_("findings"), default=list, blank=True)
    # What was looked at: {"shipments": n, "payments": n, "ledger_entries": n, ...}
    checked = models.JSONField(_("checked"), default=dict, blank=True)

    class Meta:
        verbose_name = _("money audit")
        verbose_name_plural = _("money audits")
        ordering = ["-id"]

    def __str__(self):
        return f"{self.source} {self.started_at:%Y-%m-%d %H:%M}: {self.finding_count}"
