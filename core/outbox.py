"""Outbound events: every audited change of a registered model also writes an
OutboxEvent, in the same transaction (core.services calls this module), and the webhook
dispatcher (core.webhooks) sends them on.

core sits below the apps whose changes become events, so it never names their models:
each app registers its models' topics in its AppConfig.ready()
(`outbox_topic_register("orders.salesorder", "order", ...)`), and only audit entries of a
registered model label become events.

An event's type is "<topic>.<to_status>" for an entry that sets a status ("order.submitted",
"shipment.paid"), otherwise "<topic>.<action>", the action without the model's own prefix
("order_line_added" -> "order.line_added", "occurrence_rescheduled" ->
"shipment.rescheduled"). docs/webhooks.md lists them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from core.models import AuditEntry, OutboxEvent
from core.sql_arrays import array_literal

ALL_EVENTS = "*"


@dataclass(frozen=True)
class OutboxTopic:
    model_label: str  # "orders.salesorder": AuditEntry.object_type
    topic: str  # "order": the first part of its events' types
    # The types an endpoint may choose ("order.submitted"); new ones may still be sent.
    event_types: frozenset[str] = field(default_factory=frozenset)
    # The object's attribute worth repeating in the event (an order's number): read from
    # the instance when one is recorded, else from the entry's details under that name.
    reference: str = ""
    # The action prefixes stripped from the type ("occurrence_" and "shipment_" for a
    # shipment).
    prefixes: tuple[str, ...] = ()


_topics: dict[str, OutboxTopic] = {}


def outbox_topic_register(
    model_label: str,
    topic: str,
    *,
    statuses: Iterable[str] = (),
    actions: Iterable[str] = (),
    reference: str = "",
) -> OutboxTopic:
    """Make the audited changes of `model_label` outbound events of `topic`. `statuses`
    and `actions` name the events endpoints may choose (the model's status values, the
    audit actions its services write without a status); registering again replaces."""
    model_name = model_label.partition(".")[2]
    # Longest first: where one prefix begins the other, Python's first match and
    # PostgreSQL's alternation (outbox_events_sql) then strip the same one.
    prefixes = tuple(sorted({f"{topic}_", f"{model_name}_"}, key=len, reverse=True))
    names = [str(status) for status in statuses] + [
        _strip(prefixes, str(action)) for action in actions
    ]
    spec = OutboxTopic(
        model_label=model_label,
        topic=topic,
        event_types=frozenset(f"{topic}.{name}" for name in names),
        reference=reference,
        prefixes=prefixes,
    )
    _topics[model_label] = spec
    return spec


def outbox_known_event_types() -> frozenset[str]:
    return frozenset().union(*(spec.event_types for spec in _topics.values()))


def _strip(prefixes: tuple[str, ...], action: str) -> str:
    for prefix in prefixes:
        if action.startswith(prefix):
            return action[len(prefix) :]
    return action


def outbox_event_type(spec: OutboxTopic, *, action: str, to_status: str) -> str:
    return f"{spec.topic}.{to_status or _strip(spec.prefixes, action)}"


def outbox_event_types_invalid(chosen: Iterable[str]) -> list[str]:
    """The entries of an endpoint's event types that name nothing known: not "*", not
    "<topic>.*" of a registered topic, not a registered type."""
    topics = {spec.topic for spec in _topics.values()}
    known = outbox_known_event_types()
    invalid = []
    for entry in chosen:
        if not isinstance(entry, str):
            invalid.append(str(entry))
            continue
        topic, dot, name = entry.partition(".")
        if entry == ALL_EVENTS or (dot and name == "*" and topic in topics) or entry in known:
            continue
        invalid.append(entry)
    return invalid


def event_type_matches(chosen: list[str], event_type: str) -> bool:
    """Whether an endpoint that chose `chosen` receives events of `event_type`."""
    if not chosen or ALL_EVENTS in chosen:
        return True
    return event_type in chosen or f"{event_type.partition('.')[0]}.*" in chosen


def _ordering_key(entry: AuditEntry) -> str:
    if entry.customer_id is not None:
        return f"customer:{entry.customer_id}"
    return f"{entry.object_type}:{entry.object_id}"


def _event(spec: OutboxTopic, entry: AuditEntry, reference: str = "") -> OutboxEvent:
    return OutboxEvent(
        audit_entry=entry,
        type=outbox_event_type(spec, action=entry.action, to_status=str(entry.to_status)),
        topic=spec.topic,
        object_type=entry.object_type,
        object_id=entry.object_id,
        ordering_key=_ordering_key(entry),
        customer_id=entry.customer_id,
        occurred_at=entry.at,
        reference=reference,
    )


def outbox_reference(object_type: str, obj) -> str:
    """What an event of `obj` repeats of it (an order's number), "" for none."""
    spec = _topics.get(object_type)
    if spec is None or not spec.reference:
        return ""
    return str(getattr(obj, spec.reference, "") or "")[:64]


def outbox_event_for(entry: AuditEntry, obj=None) -> OutboxEvent | None:
    """The event of one saved entry (its caller's transaction), or None for a model no
    app registered."""
    spec = _topics.get(entry.object_type)
    if spec is None:
        return None
    event = _event(spec, entry, outbox_reference(entry.object_type, obj))
    event.save()
    return event


def outbox_events_create(entries: list[AuditEntry]) -> int:
    """The events of entries saved in bulk through the ORM (their ids known); how many.
    PostgreSQL writes them in the entries' own statement instead (outbox_events_sql)."""
    events = [
        _event(spec, entry)
        for entry in entries
        if (spec := _topics.get(entry.object_type)) is not None
    ]
    OutboxEvent.objects.bulk_create(events, batch_size=1000)
    return len(events)


def outbox_registered(object_types: Iterable[str]) -> bool:
    """Whether any of these models (label_lower) has outbound events."""
    return any(object_type in _topics for object_type in object_types)


def outbox_events_sql(source: str, *, reference: str | None = None) -> tuple[str, list]:
    """An INSERT of the events of the audit entries that `source` names (a WITH query of
    the entries just inserted, RETURNING id, at, action, object_type, object_id,
    customer_id, to_status), with its parameters. `reference`: the one entry's object's
    reference (outbox_reference); a batch's events carry none (the dispatcher reads it
    from the entry's details).

    The same rules as outbox_event_type and _ordering_key, in SQL: a batch chunk writes
    thousands of entries at once, and the events then cost the database's work only, with
    nothing sent twice over the wire. Event ids are UUIDs of version 7, as
    core.models.uuid7 makes them: gen_random_uuid()'s random bits under 48 bits of the
    time in milliseconds, and the version bits set to 7."""
    specs = list(_topics.values())
    reference_sql = "''" if reference is None else "%s::varchar"
    sql = f"""
        INSERT INTO {OutboxEvent._meta.db_table} (
            event_id, audit_entry_id, type, topic, object_type, object_id, ordering_key,
            customer_id, occurred_at, reference, fanned_out
        )
        SELECT 'evt_' || encode(
                set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) PLACING substring(
                    int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3
                ) FROM 1 FOR 6), 52, 1), 53, 1),
                'hex'
            )::uuid,
            entry.id,
            topic.topic || '.' || CASE
                WHEN entry.to_status <> '' THEN entry.to_status
                ELSE regexp_replace(entry.action, topic.prefixes, '')
            END,
            topic.topic, entry.object_type, entry.object_id,
            COALESCE('customer:' || entry.customer_id, entry.object_type || ':' || entry.object_id),
            entry.customer_id, entry.at, {reference_sql}, false
        FROM {source} AS entry
        JOIN unnest(%s::varchar[], %s::varchar[], %s::text[]) AS topic(label, topic, prefixes)
            ON topic.label = entry.object_type
        ORDER BY entry.id
    """
    return sql, [
        *([reference[:64]] if reference is not None else []),
        array_literal(spec.model_label for spec in specs),
        array_literal(spec.topic for spec in specs),
        array_literal("^(" + "|".join(spec.prefixes) + ")" for spec in specs),
    ]


def outbox_event_data(event: OutboxEvent) -> dict:
    """The event's "data" as sent: what its audit entry says, under the event's topic."""
    entry = event.audit_entry
    data = {
        "object": event.topic,
        "id": event.object_id,
        "customer_id": event.customer_id,
        "action": entry.action,
        "from_status": entry.from_status,
        "to_status": entry.to_status,
        "reason": entry.reason,
        "details": entry.details,
    }
    spec = _topics.get(event.object_type)
    if spec is not None and spec.reference:
        reference = event.reference or (entry.details or {}).get(spec.reference)
        if reference:
            data[spec.reference] = reference
    return data
