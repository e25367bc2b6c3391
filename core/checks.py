import os

from django.conf import settings
from django.core.checks import Warning, register


@register(deploy=True)
def business_time_zone_is_chosen(app_configs, **kwargs):
    """A deployment that never chose its zone counts its days in UTC: a US call centre's
    "today" would turn into tomorrow in the evening, mid-shift."""
    if os.environ.get("BUSINESS_TIME_ZONE", "").strip() or os.environ.get("TIME_ZONE", "").strip():
        return []
    return [
        Warning(
            "BUSINESS_TIME_ZONE is not set, so the business day is the UTC day.",
            hint="Set BUSINESS_TIME_ZONE to the call centre's IANA zone "
            "(e.g. America/New_York), even when it is UTC.",
            id="core.W001",
        )
    ]


@register(deploy=True)
def customer_emails_are_sent(app_configs, **kwargs):
    """The console backend writes the customer emails to the worker's log and counts them
    as sent: in production they would be lost (and their text would sit in the logs)."""
    if settings.EMAIL_BACKEND != "django.core.mail.backends.console.EmailBackend":
        return []
    return [
        Warning(
            "EMAIL_BACKEND is the console backend: customer emails are written to the log, "
            "not sent.",
            hint="Set EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend and EMAIL_HOST "
            "(with EMAIL_HOST_USER, EMAIL_HOST_PASSWORD and EMAIL_USE_TLS if the server "
            "asks for them).",
            id="core.W002",
        )
    ]
