import datetime

from django.utils import timezone


def business_date() -> datetime.date:
    """Today in the call centre's zone (BUSINESS_TIME_ZONE, which is Django's TIME_ZONE):
    the date an order is taken on, a batch run's default date and the "today" of every
    date rule. The one place the code asks for today's date."""
    return timezone.localdate()
