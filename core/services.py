from __future__ import annotations

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
    outbox_registered,
)


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


def audit_entries_insert(entries: list[AuditEntry]) -> None:
    """AuditEntry.objects.bulk_create(entries), in one statement on PostgreSQL: through
    the ORM, building the statement costs more than the database's work for the thousands
    of entries a batch chunk writes.

    The entries of registered models (core.outbox) also become outbound events, in the
    same statement on PostgreSQL (a WITH query), in the same transaction elsewhere."""
    if not entries:
        return
    if connection.vendor != "postgresql":
        with transaction.atomic(savepoint=False):
            AuditEntry.objects.bulk_create(entries, batch_size=1000)
            outbox_events_create(entries)
        return
    statement = f"""
        INSERT INTO {AuditEntry._meta.db_table} (
            at, actor_user_id, actor_label, action, object_type, object_id, customer_id,
            from_status, to_status, reason, details
        )
        SELECT at, actor_user_id, actor_label, action, object_type, object_id,
            customer_id, from_status, to_status, reason, details::jsonb
        FROM unnest(
            %s::timestamptz[], %s::integer[], %s::varchar[], %s::varchar[],
            %s::varchar[], %s::varchar[], %s::bigint[], %s::varchar[], %s::varchar[],
            %s::varchar[], %s::text[]
        ) AS entry(
            at, actor_user_id, actor_label, action, object_type, object_id,
            customer_id, from_status, to_status, reason, details
        )
    """
    parameters = [
        [entry.at for entry in entries],
        [entry.actor_user_id for entry in entries],
        [entry.actor_label for entry in entries],
        [entry.action for entry in entries],
        [entry.object_type for entry in entries],
        [entry.object_id for entry in entries],
        [entry.customer_id for entry in entries],
        [str(entry.from_status) for entry in entries],
        [str(entry.to_status) for entry in entries],
        [entry.reason for entry in entries],
        [json.dumps(entry.details) for entry in entries],
    ]
    if outbox_registered(entries):
        events, event_parameters = outbox_events_sql("inserted")
        statement = f"""
            WITH inserted AS (
                {statement}
                RETURNING id, at, action, object_type, object_id, customer_id, to_status
            )
            {events}
        """
        parameters += event_parameters
    with connection.cursor() as cursor:
        cursor.execute(statement, parameters)


def audit_record(**kwargs) -> AuditEntry:
    """Save one entry and, for a registered model (core.outbox), its outbound event, in
    the same transaction."""
    entry = audit_entry_build(**kwargs)
    with transaction.atomic(savepoint=False):
        entry.save()
        outbox_event_for(entry, kwargs["obj"])
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
