from celery import shared_task

from core.notification_sending import notifications_send


@shared_task(name="core.send_notifications")
def send_notifications() -> int:
    """Send what is pending, a batch at a time (each commit frees its rows)."""
    total = 0
    while sent := notifications_send(limit=200):
        total += sent
    return total
