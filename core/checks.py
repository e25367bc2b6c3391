import os

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
