from __future__ import annotations

import datetime
import json
from collections.abc import Mapping

from django.db import connection, models, transaction

from core.actors import Actor
from core.errors import Conflict
from core.models import AuditEntry
from core.outbox import (
    outbox_event_for,
    outbox_events_create,
    outbox_events_sql,
    outbox_reference,
    outbox_registered,
)
from core.sql_arrays import array_literal


def audit_entry_build(
    *,
    actor: Actor,
    action: str,
    obj: models.Model,
    customer_id: int | None = None,
    from_status: str = "",
    to_status: str = "",
    reason: str = "",
    details: Mapping | None = None,
) -> AuditEntry:
    """An unsaved entry, for callers that write many at once with bulk_create."""
    return AuditEntry(
        actor_user_id=actor.user_id,
        actor_label=actor.label,
        action=action,
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        customer_id=customer_id,
        from_status=from_status,
        to_status=to_status,
        reason=reason,
        details=dict(details or {}),
    )


class AuditSubject:
    """What audit_entry_build reads of the object it records, its model and primary key,
    for rows written without model instances (an instance costs more than its entry)."""

    __slots__ = ("_meta", "pk")

    def __init__(self, model: type[models.Model], pk: int):
        self._meta = model._meta
        self.pk = pk


class AuditRows:
    """Audit entries as columns, for writers of thousands at once (a batch chunk): one
    actor, one time and one reason for all of them, and no model instance per entry. Building the
    AuditEntry instances (each calls timezone.now() for its default) cost more than the
    database's own work for them (docs/benchmarks.md, "Child orders: where the time
    goes")."""

    __slots__ = (
        "action",
        "actor",
        "at",
        "customer_id",
        "details",
        "from_status",
        "object_id",
        "object_type",
        "reason",
        "to_status",
    )

    def __init__(self, *, actor: Actor, at: datetime.datetime, reason: str = ""):
        self.actor = actor
        self.at = at
        self.reason = reason
        self.action: list[str] = []
        self.object_type: list[str] = []
        self.object_id: list[str] = []
        self.customer_id: list[int | None] = []
        self.from_status: list[str] = []
        self.to_status: list[str] = []
        self.details: list[str] = []  # JSON text

    def add(
        self,
        action: str,
        object_type: str,
        object_id: int,
        customer_id: int | None,
        from_status: str = "",
        to_status: str = "",
        details: Mapping | None = None,
    ) -> None:
        """One entry; `object_type` is the model's label_lower ("orders.salesorder")."""
        self.action.append(action)
        self.object_type.append(object_type)
        self.object_id.append(str(object_id))
        self.customer_id.append(customer_id)
        self.from_status.append(str(from_status))
        self.to_status.append(str(to_status))
        self.details.append(json.dumps(details or {}))

    def __len__(self) -> int:
        return len(self.action)

    def entries(self) -> list[AuditEntry]:
        """The same entries as unsaved instances (the ORM path, SQLite)."""
        return [
            AuditEntry(
                at=self.at,
                actor_user_id=self.actor.user_id,
                actor_label=self.actor.label,
                action=action,
                object_type=object_type,
                object_id=object_id,
                customer_id=customer_id,
                from_status=from_status,
                to_status=to_status,
                reason=self.reason,
                details=json.loads(details),
            )
            for action, object_type, object_id, customer_id, from_status, to_status, details in zip(
                self.action,
                self.object_type,
                self.object_id,
                self.customer_id,
                self.from_status,
                self.to_status,
                self.details,
                strict=True,
            )
        ]


_AUDIT_INSERT = """
    INSERT INTO {table} (
        at, actor_user_id, actor_label, action, object_type, object_id, customer_id,
        from_status, to_status, reason, details
    )
    SELECT {at}, {actor_user_id}, {actor_label}, action, object_type, object_id,
        customer_id, from_status, to_status, {reason}, details::jsonb
    FROM unnest({arrays}) AS entry({names})
"""


def _audit_statement(
    columns: dict[str, tuple[str, list]],
    constants: dict[str, tuple[str, object]],
    *,
    reference: str | None = None,
    returning_id: bool = False,
) -> tuple[str, list]:
    """The INSERT of entries given as arrays (`columns`: name -> (SQL type, values)) and
    constants (name -> (SQL type, value), the same for every entry), with the outbox
    events of registered models in the same statement (a WITH query). `reference`: the
    events' reference (one entry's, audit_record). `returning_id`: the statement answers
    the entries' ids (one entry's, audit_record: a registered model has one event)."""
    # The constants come first in the statement (its SELECT list), the arrays after them.
    parameters = [value for _sql_type, value in constants.values()]
    sql = _AUDIT_INSERT.format(
        table=AuditEntry._meta.db_table,
        **{name: name for name in columns},
        **{name: f"%s::{sql_type}" for name, (sql_type, _value) in constants.items()},
        arrays=", ".join(f"%s::{sql_type}[]" for sql_type, _values in columns.values()),
        names=", ".join(columns),
    )
    parameters += [array_literal(values) for _sql_type, values in columns.values()]
    if outbox_registered(columns["object_type"][1]):
        events, event_parameters = outbox_events_sql("inserted", reference=reference)
        sql = f"""
            WITH inserted AS (
                {sql}
                RETURNING id, at, action, object_type, object_id, customer_id, to_status
            )
            {events}
            {"RETURNING audit_entry_id" if returning_id else ""}
        """
        parameters += event_parameters
    elif returning_id:
        sql += " RETURNING id"
    return sql, parameters


def audit_rows_insert(rows: AuditRows) -> None:
    """Write `rows` (and the outbound events of registered models) in one statement on
    PostgreSQL, through the ORM elsewhere."""
    if not len(rows):
        return
    if connection.vendor != "postgresql":
        _audit_entries_insert_orm(rows.entries())
        return
    sql, parameters = _audit_statement(
        {
            "action": ("varchar", rows.action),
            "object_type": ("varchar", rows.object_type),
            "object_id": ("varchar", rows.object_id),
            "customer_id": ("bigint", rows.customer_id),
            "from_status": ("varchar", rows.from_status),
            "to_status": ("varchar", rows.to_status),
            "details": ("text", rows.details),
        },
        {
            "at": ("timestamptz", rows.at),
            "actor_user_id": ("integer", rows.actor.user_id),
            "actor_label": ("varchar", rows.actor.label),
            "reason": ("varchar", rows.reason),
        },
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, parameters)


def _audit_entries_insert_orm(entries: list[AuditEntry]) -> None:
    with transaction.atomic(savepoint=False):
        AuditEntry.objects.bulk_create(entries, batch_size=1000)
        outbox_events_create(entries)


def audit_entries_insert(entries: list[AuditEntry]) -> None:
    """AuditEntry.objects.bulk_create(entries), in one statement on PostgreSQL: through
    the ORM, building the statement costs more than the database's work for the thousands
    of entries a batch chunk writes (AuditRows costs less still, when one actor writes
    them all).

    The entries of registered models (core.outbox) also become outbound events, in the
    same statement on PostgreSQL (a WITH query), in the same transaction elsewhere."""
    if not entries:
        return
    if connection.vendor != "postgresql":
        _audit_entries_insert_orm(entries)
        return
    sql, parameters = _audit_statement(_entry_columns(entries), {})
    with connection.cursor() as cursor:
        cursor.execute(sql, parameters)


def _entry_columns(entries: list[AuditEntry]) -> dict[str, tuple[str, list]]:
    """Unsaved entries as the arrays of _audit_statement, a column each."""
    return {
        "at": ("timestamptz", [entry.at for entry in entries]),
        "actor_user_id": ("integer", [entry.actor_user_id for entry in entries]),
        "actor_label": ("varchar", [entry.actor_label for entry in entries]),
        "action": ("varchar", [entry.action for entry in entries]),
        "object_type": ("varchar", [entry.object_type for entry in entries]),
        "object_id": ("varchar", [entry.object_id for entry in entries]),
        "customer_id": ("bigint", [entry.customer_id for entry in entries]),
        "from_status": ("varchar", [str(entry.from_status) for entry in entries]),
        "to_status": ("varchar", [str(entry.to_status) for entry in entries]),
        "reason": ("varchar", [entry.reason for entry in entries]),
        "details": ("text", [json.dumps(entry.details) for entry in entries]),
    }


def audit_record(**kwargs) -> AuditEntry:
    """Save one entry and, for a registered model (core.outbox), its outbound event, in
    the same transaction: on PostgreSQL in one statement (a WITH query, as a batch's
    entries), since a sale or a submit writes several entries and each round trip of the
    ORM costs more than the rows."""
    entry = audit_entry_build(**kwargs)
    if connection.vendor != "postgresql":
        with transaction.atomic(savepoint=False):
            entry.save()
            outbox_event_for(entry, kwargs["obj"])
        return entry
    sql, parameters = _audit_statement(
        _entry_columns([entry]),
        {},
        reference=outbox_reference(entry.object_type, kwargs["obj"]),
        returning_id=True,
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, parameters)
        (entry.pk,) = cursor.fetchone()
    # As saved by the ORM: an instance of the row, not one to insert.
    entry._state.adding = False
    entry._state.db = connection.alias
    return entry


class StatusMachine:
    """The allowed transitions of one status field, kept next to its TextChoices."""

    def __init__(self, choices: type[models.TextChoices], allowed: Mapping[str, set[str]]):
        self.choices = choices
        self.allowed = {key: frozenset(value) for key, value in allowed.items()}

    def can(self, from_status: str, to_status: str) -> bool:
        return to_status in self.allowed.get(from_status, frozenset())

    def check(self, obj: models.Model, to_status: str) -> None:
        if not self.can(obj.status, to_status):
            raise Conflict(
                f"{obj._meta.verbose_name.capitalize()} {obj} cannot go from "
                f"{self.choices(obj.status).label} to {self.choices(to_status).label}."
            )


def status_change(
    obj: models.Model,
    *,
    machine: StatusMachine,
    to_status: str,
    actor: Actor,
    customer_id: int | None,
    reason: str = "",
    details: Mapping | None = None,
    update_fields: tuple[str, ...] = (),
) -> None:
    """Move obj to to_status if its machine allows it, and record the change.

    The caller holds the transaction (and the row lock where money is involved), so the
    new status and its audit entry commit together or not at all.
    """
    from_status = obj.status
    machine.check(obj, to_status)
    obj.status = to_status
    obj.save(update_fields=["status", *update_fields])
    audit_record(
        actor=actor,
        action="status_change",
        obj=obj,
        customer_id=customer_id,
        from_status=from_status,
        to_status=to_status,
        reason=reason,
        details=details,
    )


def api_token_issue(*, user, actor: Actor, reset: bool = False):
    """The user's API token (rest_framework.authtoken: one per user), created if missing;
    with `reset`, a new key replaces the old one, which stops working at once. The audit
    entry names the user, never the key."""
    # Imported here: models modules import this one while the app registry loads.
    from rest_framework.authtoken.models import Token

    with transaction.atomic():
        if reset:
            Token.objects.filter(user=user).delete()
        token, created = Token.objects.get_or_create(user=user)
        if created:
            audit_record(
                actor=actor,
                action="api_token_reset" if reset else "api_token_issued",
                obj=user,
            )
    return token
