"""The supervisor's upload of ship confirmations: upload a CSV file, read the preview (each
row with what confirming would do), confirm, read the result (docs/warehouse.md).

The rows read from the file wait in the session (server side) between the preview and
the confirm: the confirm records what the server read, never what a page sent back, and
checks every shipment again. One upload waits at a time per session; a new one replaces
it."""

import uuid

from django import forms
from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.actors import Actor
from core.roles import can_supervise, role_required
from orders.shipment_upload import (
    COLUMNS,
    MAX_BYTES,
    MAX_ROWS,
    Outcome,
    UploadError,
    outcome_counts,
    rows_read,
    upload_check,
    upload_record,
)

PENDING = "shipment_upload"
RESULT = "shipment_upload_result"


class ShipmentUploadForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("File of ship confirmations (CSV)"),
        help_text=gettext_lazy("UTF-8, at most 1 MB and 5,000 rows."),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_BYTES:
            raise forms.ValidationError(
                _("The file is larger than %(size)s kB.") % {"size": MAX_BYTES // 1000}
            )
        try:
            self.rows = rows_read(upload.read(MAX_BYTES + 1))
        except UploadError as error:
            raise forms.ValidationError(error.message) from None
        return upload


def _rows_view(groups) -> list[dict]:
    """Each row of the file, in file order, with its shipment's outcome and messages."""
    rows = []
    for group in groups:
        for row in group.rows:
            rows.append(
                {
                    **row,
                    "outcome": group.outcome,
                    "messages": group.row_messages(row),
                    "invoice": group.invoice,
                }
            )
    return sorted(rows, key=lambda row: row["row"])


def _pending(request, token):
    pending = request.session.get(PENDING)
    if not pending or pending["token"] != str(token):
        return None
    return {**pending, "rows": _rows_unpacked(pending["rows"])}


# In the session, a row is a list (its line in the file, then the columns in order): the
# session is written again on every request while the upload waits.
def _rows_packed(rows: list[dict]) -> list[list]:
    return [[row["row"], *(row[name] for name in COLUMNS)] for row in rows]


def _rows_unpacked(packed: list[list]) -> list[dict]:
    return [{"row": cells[0], **dict(zip(COLUMNS, cells[1:], strict=True))} for cells in packed]


@require_http_methods(["GET", "POST"])
@role_required(can_supervise)
def shipment_upload(request):
    form = ShipmentUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        token = str(uuid.uuid4())
        request.session[PENDING] = {
            "token": token,
            "name": form.cleaned_data["file"].name[:200],
            "rows": _rows_packed(form.rows),
        }
        request.session.pop(RESULT, None)
        return redirect("orders:shipment_upload_preview", token=token)
    return render(
        request,
        "orders/shipment_upload.html",
        {"form": form, "columns": COLUMNS, "max_rows": MAX_ROWS},
        status=400 if request.method == "POST" else 200,
    )


@require_GET
@role_required(can_supervise)
def shipment_upload_preview(request, token):
    pending = _pending(request, token)
    if pending is None:
        messages.warning(request, _("That upload is no longer waiting: upload the file again."))
        return redirect("orders:shipment_upload")
    groups = upload_check(pending["rows"])
    return render(
        request,
        "orders/shipment_upload_preview.html",
        {
            "token": pending["token"],
            "file_name": pending["name"],
            "rows": _rows_view(groups),
            "counts": outcome_counts(groups),
            "Outcome": Outcome,
        },
    )


@require_POST
@role_required(can_supervise)
def shipment_upload_confirm(request, token):
    pending = _pending(request, token)
    if pending is None:
        messages.warning(request, _("That upload is no longer waiting: upload the file again."))
        return redirect("orders:shipment_upload")
    groups = upload_record(pending["rows"], actor=Actor.of_user(request.user))
    del request.session[PENDING]
    request.session[RESULT] = {
        "token": pending["token"],
        "name": pending["name"],
        "rows": _rows_view(groups),
        "counts": outcome_counts(groups),
    }
    return redirect("orders:shipment_upload_result", token=pending["token"])


@require_GET
@role_required(can_supervise)
def shipment_upload_result(request, token):
    result = request.session.get(RESULT)
    if not result or result["token"] != str(token):
        return redirect("orders:shipment_upload")
    return render(
        request,
        "orders/shipment_upload_result.html",
        {
            "file_name": result["name"],
            "rows": result["rows"],
            "counts": result["counts"],
            "Outcome": Outcome,
        },
    )
