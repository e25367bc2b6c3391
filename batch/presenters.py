"""How a run is told to people: the one-line summary of the run page and the commands."""

from django.conf import settings
from django.utils.translation import gettext as _

from batch.models import BatchJob, BatchRun, BatchRunStatus

NOT_CREATED_ORDER = ["awaiting_payment", "payment_declined", "card_expired", "on_hold"]


def _not_created_text(counts: dict) -> str:
    labels = {
        "awaiting_payment": _("awaiting payment"),
        "payment_declined": _("payment declined"),
        "card_expired": _("card expired"),
        "on_hold": _("on hold"),
        "limit_reached": _("run limit reached"),
        "error": _("error"),
    }
    keys = NOT_CREATED_ORDER + [key for key in ("limit_reached", "error") if counts.get(key)]
    return ", ".join(f"{labels[key]} {counts.get(key, 0)}" for key in keys)


def batch_run_summary_line(run: BatchRun) -> str:
    summary = run.summary or {}
    not_processed = summary.get("not_processed", {})
    if run.status == BatchRunStatus.FAILED:
        return _("The run failed: %(error)s") % {"error": run.error_message}
    if run.status in (BatchRunStatus.QUEUED, BatchRunStatus.RUNNING):
        # "Label: number" sentences read right for any count, in English and in French.
        return _("Running. Shipments processed: %(done)d of %(total)d.") % {
            "done": run.processed_count,
            "total": run.selected_count,
        }
    if run.job == BatchJob.CREATE_CHILD_ORDERS:
        if run.dry_run:
            text = _("Dry run. Child orders to create: %(orders)d (shipments: %(shipments)d).") % {
                "orders": summary.get("would_create", 0),
                "shipments": summary.get("would_fulfil", 0),
            }
        else:
            text = _("Child orders created: %(count)d.") % {"count": summary.get("created", 0)}
        return f"{text} " + _("Not created: %(reasons)s") % {
            "reasons": _not_created_text(not_processed)
        }
    if run.dry_run:
        would = summary.get("would", {})
        return _(
            "Dry run. Shipments to charge: %(charge)d (%(amount)s %(currency)s). Unknown "
            "outcomes to look up: %(look_up)d. Cards expired: %(expired)d."
        ) % {
            "charge": would.get("charge", 0),
            "amount": summary.get("would_charge_amount", "0.00"),
            "currency": settings.CURRENCY,
            "look_up": would.get("look_up", 0),
            "expired": would.get("card_expired", 0),
        }
    return _(
        "Shipments charged: %(paid)d (%(amount)s %(currency)s). Declined, to be retried: "
        "%(declined)d. On hold: %(on_hold)d. Card expired: %(expired)d. Outcome unknown: "
        "%(unknown)d. Errors: %(errors)d."
    ) % {
        "paid": summary.get("paid", 0),
        "amount": summary.get("amount_charged", "0.00"),
        "currency": settings.CURRENCY,
        "declined": summary.get("declined", 0),
        "on_hold": summary.get("on_hold", 0),
        "expired": summary.get("card_expired", 0),
        "unknown": summary.get("unknown", 0),
        "errors": not_processed.get("error", 0),
    }
