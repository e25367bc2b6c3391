import datetime

from django.utils import timezone


def business_date() -> datetime.date:
    """Today in TIME_ZONE: the date an order is taken on and a batch runs for by default."""
    return timezone.localdate()
