"""The audit chain's rules: canonical content, link hashes and what makes a link broken.

An event's hash is sha256(previous hash + sha256 of its canonical content), hex, where
the canonical content is the event's own fields as JSON with sorted keys, in the text
form PostgreSQL's json_build_object gives it (", " and " : " separators). The database
computes links that way when it links recorded events (link_audit_events, with
audit_content_sha256); verify recomputes both here.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64
"""The previous hash of an organization's first event."""


@dataclass(frozen=True, slots=True)
class Change:
    """One object a request changed: what happened to it and its state afterwards."""

    action: str
    object_type: str
    object_id: str
    after_sha256: str | None
    target_id: str | None = None
    """The object the request addressed when it is not the one it produced (reversals)."""


def changed(
    object_type: str,
    verb: str,
    state: Any,
    *,
    object_id: str | None = None,
    target_id: str | None = None,
) -> Change:
    """What a use case says it did to one object: `<object_type>.<verb>` (the object
    type is the API's name for it, e.g. journal_entry), its state afterwards (a domain
    object, referenced by state_sha256 of its fields), and the object the request
    addressed when that is another one (a reversal names the entry it reverses)."""
    found = object_id if object_id is not None else str(state.id)
    return Change(
        f"{object_type}.{verb}",
        object_type,
        found,
        state_sha256(_fields(state)),
        target_id if target_id != found else None,
    )


def _fields(state: Any) -> dict[str, Any]:
    """A domain object's fields as JSON values (dates and enums as their text).

    The same values as `json.loads(json.dumps(dataclasses.asdict(state), default=str))`
    without the deep copy and the JSON round trip (a batch of 1,000 entries spent most of
    its API time there); anything `_plain` does not know takes that slower way."""
    if dataclasses.is_dataclass(state) and not isinstance(state, type):
        try:
            return _plain_dataclass(state)
        except _Unknown:
            state = dataclasses.asdict(state)
    fields: dict[str, Any] = json.loads(json.dumps(dict(state), default=str))
    return fields


class _Unknown(Exception):
    """A value `_plain` leaves to the JSON round trip."""


def _plain_dataclass(state: Any) -> dict[str, Any]:
    return {f.name: _plain(getattr(state, f.name)) for f in dataclasses.fields(state)}


def _plain(value: Any) -> Any:
    """What the JSON round trip makes of value: str subclasses (StrEnum) as their text,
    int subclasses as ints, dates as str(), tuples as lists."""
    if value is None or type(value) in (str, int, bool, float):
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, datetime.date | datetime.time):
        return str(value)
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain_dataclass(value)
    if isinstance(value, dict) and all(type(key) is str for key in value):
        return {key: _plain(item) for key, item in value.items()}
    raise _Unknown


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    organization_id: str
    seq: int | None
    """Position in the chain; None until the event is linked."""
    actor_user_id: str | None
    action: str
    object_type: str
    object_id: str
    target_id: str | None
    request_id: str | None
    before_sha256: str | None
    after_sha256: str | None
    occurred_at: datetime.datetime
    prev_hash: str | None
    hash: str | None


@dataclass(frozen=True, slots=True)
class Broken:
    id: str
    reason: str


def state_sha256(representation: Mapping[str, Any]) -> str:
    """The reference to an object's state: sha256 of its fields as canonical JSON."""
    return _sha256(_canonical(dict(representation)))


def timestamp(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def content_sha256(
    *,
    id: str,
    organization_id: str,
    actor_user_id: str | None,
    request_id: str | None,
    occurred_at: datetime.datetime,
    change: Change,
    before_sha256: str | None,
) -> str:
    """sha256 of everything an event says, except its place in the chain."""
    content = {
        "id": id,
        "organization_id": organization_id,
        "actor_user_id": actor_user_id,
        "action": change.action,
        "object_type": change.object_type,
        "object_id": change.object_id,
        "target_id": change.target_id,
        "request_id": request_id,
        "before_sha256": before_sha256,
        "after_sha256": change.after_sha256,
        "occurred_at": timestamp(occurred_at),
    }
    return _sha256(_content_json(content))


def event_content_sha256(event: Event) -> str:
    change = Change(
        event.action, event.object_type, event.object_id, event.after_sha256, event.target_id
    )
    return content_sha256(
        id=event.id,
        organization_id=event.organization_id,
        actor_user_id=event.actor_user_id,
        request_id=event.request_id,
        occurred_at=event.occurred_at,
        change=change,
        before_sha256=event.before_sha256,
    )


def link_hash(prev_hash: str, content: str) -> str:
    return _sha256(prev_hash + content)


def check_link(event: Event, *, expected_seq: int, prev_hash: str) -> Broken | None:
    """Why event does not follow a chain whose last hash is prev_hash, or None."""
    if event.hash is None:
        return Broken(event.id, "event is not linked")
    if event.seq != expected_seq:
        return Broken(event.id, f"sequence gap: expected seq {expected_seq}, found {event.seq}")
    if event.prev_hash != prev_hash:
        return Broken(event.id, "previous hash does not match the preceding event's hash")
    if event.hash != link_hash(prev_hash, event_content_sha256(event)):
        return Broken(event.id, "hash does not match the event's content")
    return None


def _canonical(value: dict[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _content_json(value: dict[str, Any]) -> str:
    """The text of json_build_object(...)::text with the keys in sorted order."""
    return json.dumps(value, sort_keys=True, separators=(", ", " : "), ensure_ascii=False)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
