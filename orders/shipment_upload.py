"""A file of ship confirmations (CSV), checked row by row before anything is written:
the supervisor's upload page (orders.shipment_upload_views, docs/warehouse.md).

One row per shipped line; the rows with the same warehouse shipment id make one
shipment. Every rule is the service's (orders.fulfilment.services): this module reads
the file, groups its rows, and asks warehouse_shipment_check (the preview) or
warehouse_shipment_record (the confirm) about each shipment. A shipment with any bad
row is not written at all; the others are, each in its own transaction."""

from __future__ import annotations

import csv
import dataclasses
import datetime
import io
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from core.actors import Actor
from core.errors import Conflict, NotFound
from core.limits import QUANTITY_MAX
from orders.fulfilment.services import (
    ShipmentConfirmation,
    warehouse_shipment_check,
    warehouse_shipment_record,
)
from orders.models import ShipmentSource

MAX_BYTES = 1_000_000
MAX_ROWS = 5_000

COLUMNS = (
    "order_number",
    "warehouse_shipment_id",
    "carrier",
    "tracking_number",
    "shipped_date",
    "line_number",
    "quantity",
    "item_number",
)
REQUIRED_COLUMNS = COLUMNS[:-1]
# What the rows of one shipment must agree on.
SHIPMENT_COLUMNS = ("order_number", "carrier", "tracking_number", "shipped_date")
# Longer than any valid value of any column: a longer cell is an error, not stored.
CELL_MAX = 100


class UploadError(Exception):
    """The file as a whole cannot be read: nothing of it is checked."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# --- Reading the file --------------------------------------------------------------------


def rows_read(content: bytes) -> list[dict]:
    """The file's rows, as {"row": its line in the file, <column>: text}. Raises
    UploadError for a file that is too large, empty, not UTF-8, without the header, or
    with too many rows."""
    if len(content) > MAX_BYTES:
        raise UploadError(_("The file is larger than %(size)s kB.") % {"size": MAX_BYTES // 1000})
    try:
        # utf-8-sig: a file saved by a spreadsheet starts with a byte-order mark.
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UploadError(_("The file is not UTF-8 text. Save it as CSV UTF-8.")) from None
    if not text.strip():
        raise UploadError(_("The file is empty."))
    if "\x00" in text:
        raise UploadError(_("The file is not a CSV file."))
    first_line = text.splitlines()[0]
    # A spreadsheet set to French separates with semicolons.
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [name.strip().lower() for name in next(reader)]
        missing = [name for name in REQUIRED_COLUMNS if name not in header]
        if missing:
            raise UploadError(
                _(
                    "The first row must name the columns; missing: %(missing)s. "
                    "Expected: %(columns)s."
                )
                % {"missing": ", ".join(missing), "columns": ", ".join(COLUMNS)}
            )
        duplicated = sorted({name for name in header if name and header.count(name) > 1})
        if duplicated:
            raise UploadError(
                _("A column appears twice: %(columns)s.") % {"columns": ", ".join(duplicated)}
            )
        position = {name: header.index(name) for name in COLUMNS if name in header}
        rows = []
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            if len(rows) == MAX_ROWS:
                raise UploadError(
                    _("The file has more than %(max)s rows: split it.") % {"max": MAX_ROWS}
                )
            row = {"row": reader.line_num}
            for name, index in position.items():
                row[name] = cells[index].strip() if index < len(cells) else ""
            row.setdefault("item_number", "")
            rows.append(row)
    except csv.Error as error:
        raise UploadError(
            _("The file is not a valid CSV file (line %(line)s).") % {"line": reader.line_num}
        ) from error
    if not rows:
        raise UploadError(_("The file has a header but no rows."))
    return rows


# --- Checking the rows -------------------------------------------------------------------


class Outcome:
    READY = "ready"
    REPLAY = "replay"
    REFUSED = "refused"
    RECORDED = "recorded"


@dataclass
class ShipmentRows:
    """The rows of one shipment and what became of them."""

    reference: str
    rows: list[dict]
    row_errors: dict[int, list[str]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    outcome: str = Outcome.READY
    invoice: str = ""

    @property
    def order_number(self) -> str:
        return self.rows[0].get("order_number", "")

    def row_messages(self, row: dict) -> list[str]:
        return self.row_errors.get(row["row"], []) + self.errors


def _int(text: str, *, maximum: int) -> int | None:
    if not text.isascii() or not text.isdigit() or len(text) > 10:
        return None
    number = int(text)
    return number if 1 <= number <= maximum else None


def _row_errors(row: dict) -> list[str]:
    errors = []
    if any(len(row.get(name, "")) > CELL_MAX for name in COLUMNS):
        errors.append(_("A cell is longer than %(max)s characters.") % {"max": CELL_MAX})
    if not row["order_number"]:
        errors.append(_("Enter the order number."))
    if not row["warehouse_shipment_id"]:
        errors.append(_("Enter the warehouse's shipment id."))
    if _int(row["line_number"], maximum=2**31 - 1) is None:
        errors.append(_("The line number is a whole number from 1."))
    if _int(row["quantity"], maximum=QUANTITY_MAX) is None:
        errors.append(
            _("The quantity is a whole number from 1 to %(max)s.") % {"max": QUANTITY_MAX}
        )
    if row["shipped_date"] and _date(row["shipped_date"]) is None:
        errors.append(_("The shipped date is written YYYY-MM-DD, e.g. 2026-12-07."))
    return errors


def _date(text: str) -> datetime.date | None:
    if len(text) != 10:
        return None
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        return None


def _key(row: dict, name: str) -> str:
    value = row[name]
    return value.upper() if name in ("order_number", "carrier") else value


def _messages(error: Exception) -> list[str]:
    if isinstance(error, ValidationError):
        return list(error.messages)
    return [error.message]


def _confirmation(group: ShipmentRows) -> ShipmentConfirmation:
    first = group.rows[0]
    return ShipmentConfirmation(
        order_number=first["order_number"],
        warehouse_reference=group.reference,
        carrier_code=first["carrier"],
        tracking_number=first["tracking_number"],
        shipped_date=_date(first["shipped_date"]),
        lines=tuple(
            (int(row["line_number"]), int(row["quantity"]), row["item_number"])
            for row in group.rows
        ),
    )


def shipments_group(rows: list[dict]) -> list[ShipmentRows]:
    """The rows by shipment, in the order of the file, with each row's own errors and a
    shipment's disagreeing rows marked."""
    groups: dict[str, ShipmentRows] = {}
    for row in rows:
        # A row without an id is a shipment of its own (refused for the missing id).
        reference = row["warehouse_shipment_id"] or f"\x00{row['row']}"
        groups.setdefault(reference, ShipmentRows(reference=reference, rows=[])).rows.append(row)
    for group in groups.values():
        for row in group.rows:
            errors = _row_errors(row)
            if errors:
                group.row_errors[row["row"]] = errors
        disagree = [
            name for name in SHIPMENT_COLUMNS if len({_key(row, name) for row in group.rows}) > 1
        ]
        if disagree:
            group.errors.append(
                _(
                    "The rows of shipment %(reference)s disagree on %(columns)s: one "
                    "shipment is one order, carrier, tracking number and date."
                )
                % {"reference": group.reference, "columns": ", ".join(disagree)}
            )
        if group.row_errors or group.errors:
            group.outcome = Outcome.REFUSED
    return list(groups.values())


def upload_check(rows: list[dict]) -> list[ShipmentRows]:
    """The preview: what confirming would do with each shipment, nothing written.

    The shipments are recorded in file order, so each is checked with the units the
    file's earlier shipments of the same order lines will have shipped by then: two
    parcels that together ship more than is left are told apart in the preview, not
    only at the confirm."""
    groups = shipments_group(rows)
    # (order number, line number) -> units that the file's earlier new shipments ship.
    shipped_before: dict[tuple[str, int], int] = {}
    for group in groups:
        if group.outcome == Outcome.REFUSED:
            continue
        confirmation = _confirmation(group)
        try:
            replay = warehouse_shipment_check(confirmation)
            if replay is None:
                _check_after_earlier(confirmation, shipped_before)
        except (ValidationError, Conflict, NotFound) as error:
            group.errors.extend(_messages(error))
            group.outcome = Outcome.REFUSED
            continue
        if replay is not None:
            group.outcome = Outcome.REPLAY
            group.invoice = replay.shipment.invoice.number
            continue
        order = confirmation.order_number.strip().upper()
        for number, quantity, _item in confirmation.lines:
            shipped_before[order, number] = shipped_before.get((order, number), 0) + quantity
    return groups


def _check_after_earlier(
    confirmation: ShipmentConfirmation, shipped_before: dict[tuple[str, int], int]
) -> None:
    """The service's check of this shipment as if the file's earlier shipments of its
    lines were recorded: the same lines with their units added."""
    order = confirmation.order_number.strip().upper()
    earlier = {
        number: shipped_before[order, number]
        for number, _quantity, _item in confirmation.lines
        if (order, number) in shipped_before
    }
    if not earlier:
        return
    together = dataclasses.replace(
        confirmation,
        lines=tuple(
            (number, quantity + earlier.get(number, 0), item)
            for number, quantity, item in confirmation.lines
        ),
    )
    try:
        warehouse_shipment_check(together)
    except ValidationError as error:
        raise ValidationError(
            [
                _("With this file's earlier shipments of the same lines: %(message)s")
                % {"message": message}
                for message in error.messages
            ]
        ) from None


def upload_record(rows: list[dict], *, actor: Actor) -> list[ShipmentRows]:
    """The confirm: every shipment checked again (the file may have been previewed a
    while ago) and recorded when it has no bad row; a refused one writes nothing."""
    groups = shipments_group(rows)
    for group in groups:
        if group.outcome == Outcome.REFUSED:
            continue
        try:
            recorded = warehouse_shipment_record(
                _confirmation(group), source=ShipmentSource.CSV, actor=actor
            )
        except (ValidationError, Conflict, NotFound) as error:
            group.errors.extend(_messages(error))
            group.outcome = Outcome.REFUSED
            continue
        group.outcome = Outcome.RECORDED if recorded.created else Outcome.REPLAY
        group.invoice = recorded.shipment.invoice.number
    return groups


def outcome_counts(groups: list[ShipmentRows]) -> dict[str, int]:
    counts = dict.fromkeys((Outcome.READY, Outcome.REPLAY, Outcome.REFUSED, Outcome.RECORDED), 0)
    for group in groups:
        counts[group.outcome] += 1
    return counts
