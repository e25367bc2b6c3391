"""The reasons agents choose from when they change a subscription (the list is kept in
the admin): which fit an action, and the audit reason one of them gives."""

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from continuity.models import ReasonCode


def reason_codes_for(action: str) -> list[ReasonCode]:
    return [code for code in ReasonCode.objects.filter(active=True) if code.fits(action)]


def reason_code_audit_reason(action: str, reason_code: str) -> str:
    """The audit reason for `reason_code`, refused unless it exists, is active and fits."""
    code = ReasonCode.objects.filter(code=(reason_code or "").strip(), active=True).first()
    if code is None or not code.fits(action):
        raise ValidationError({"reason_code": _("Choose a reason from the list.")})
    return f"{code.code}: {code.label_en}"[:255]
