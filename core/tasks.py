from celery import shared_task

from core.notification_sending import notifications_send
from core.webhooks import webhook_deliveries_send, webhook_events_fan_out


@shared_task(name="core.send_notifications")
def send_notifications() -> int:
    """Send what is pending, a batch at a time (each commit frees its rows)."""
    total = 0
    while sent := notifications_send(limit=200):
        total += sent
    return total


@shared_task(name="core.send_webhooks")
def send_webhooks() -> int:
    """Give new outbound events their deliveries, then send what is due (beat, every
    minute); how many were delivered. Safe to run in several workers at once."""
    while webhook_events_fan_out():
        pass
    return webhook_deliveries_send()
