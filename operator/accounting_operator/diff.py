"""What to write: rendered manifests against the live children, decided without I/O.

A reconcile of an unchanged platform must write nothing. Each rendered manifest carries
the hash of itself in an annotation; a child is re-applied only when its hash differs
(the spec changed) or when a rendered field no longer has its rendered value on the live
object (someone edited or deleted it: drift). Fields the API server adds (defaults,
status) do not count, and quantities compare by value (`1.5` is stored as `1500m`).
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from accounting_operator import FIELD_MANAGER, GROUP, HANDOVER_MANAGER, KIND
from accounting_operator.render.platform import Manifest

HASH_ANNOTATION = f"{GROUP}/applied-hash"
CREATE_ONLY = frozenset({"Job"})
"""Kinds whose spec is immutable: created once, never patched (the Job is per version)."""

Key = tuple[str, str]
"""(kind, name) of a child; unique within a platform."""
Live = dict[Key, Manifest]

Why = Literal["created", "changed", "drifted", "handover"]


@dataclass(frozen=True, slots=True)
class Write:
    """One write to a child."""

    verb: Literal["apply", "create"]
    manifest: Manifest
    why: Why
    field_manager: str = FIELD_MANAGER


@dataclass(frozen=True, slots=True)
class Plan:
    """Writes in order, then deletions of children whose feature was switched off."""

    writes: list[Write] = field(default_factory=list)
    prune: list[Manifest] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.writes or self.prune)


def merge_patch(before: Manifest, after: Manifest) -> Manifest:
    """The JSON merge patch (RFC 7386) that turns `before` into `after`, and only that: what
    changed (a list whole), and null for every field, at any depth, that `after` no longer
    has, so a cleared field (status.rollback, status.backup, ...) is removed. Fields that
    did not change are left out: a status written meanwhile by someone else (the failover
    watchdog's status.database) is not overwritten with what this writer read earlier."""
    out: Manifest = {}
    for name, new in after.items():
        old = before.get(name)
        if isinstance(old, dict) and isinstance(new, dict):
            nested = merge_patch(old, new)
            if nested:
                out[name] = nested
        elif name not in before or old != new:
            out[name] = new
    for name in before:
        if name not in after:
            out[name] = None
    return out


def key(manifest: Manifest) -> Key:
    return str(manifest["kind"]), str(manifest["metadata"]["name"])


def manifest_hash(manifest: Manifest) -> str:
    """Stable hash of a rendered manifest (its own hash annotation left out)."""
    bare = copy.deepcopy(manifest)
    bare.get("metadata", {}).get("annotations", {}).pop(HASH_ANNOTATION, None)
    if bare.get("metadata", {}).get("annotations") == {}:
        del bare["metadata"]["annotations"]
    text = json.dumps(bare, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def annotated(manifest: Manifest) -> Manifest:
    """The manifest with its hash annotation."""
    out = copy.deepcopy(manifest)
    digest = manifest_hash(manifest)
    out["metadata"].setdefault("annotations", {})[HASH_ANNOTATION] = digest
    return out


def applied_hash(live: Manifest) -> str | None:
    annotations = live.get("metadata", {}).get("annotations") or {}
    value = annotations.get(HASH_ANNOTATION)
    return str(value) if value is not None else None


# --- does the live object still hold every rendered value? ----------------------------

_QUANTITY = re.compile(r"^([+-]?[0-9.]+)([eE][0-9]+|[numkMGTPE]i?|Ki)?$")
_SUFFIX = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}


def quantity(value: str) -> Decimal | None:
    """The value of a Kubernetes quantity string, or None if it is not one."""
    match = _QUANTITY.match(value)
    if not match:
        return None
    number, suffix = match.group(1), match.group(2) or ""
    try:
        if suffix[:1] in {"e", "E"}:
            return Decimal(number) * Decimal(10) ** int(suffix[1:])
        return Decimal(number) * _SUFFIX[suffix]
    except (InvalidOperation, KeyError):
        return None


def _empty(value: Any) -> bool:
    # The API server omits empty and zero values it was sent: absent equals them.
    return value is None or value in ({}, [], "", False, 0)


def _same_scalar(live: Any, desired: Any) -> bool:
    if live == desired and type(live) is type(desired):
        return True
    if isinstance(live, str) and isinstance(desired, str):
        a, b = quantity(live), quantity(desired)
        return a is not None and a == b
    return False


def covers(live: Any, desired: Any) -> bool:
    """Whether `live` holds every value of `desired` (extra live fields are fine)."""
    if live is None:
        return _empty(desired)
    if isinstance(desired, dict):
        return isinstance(live, dict) and all(covers(live.get(k), v) for k, v in desired.items())
    if isinstance(desired, list):
        return (
            isinstance(live, list)
            and len(live) == len(desired)
            and all(covers(a, b) for a, b in zip(live, desired, strict=True))
        )
    return _same_scalar(live, desired)


def up_to_date(live: Manifest, desired: Manifest) -> Why | None:
    """None if `live` needs no write; otherwise why it does."""
    if applied_hash(live) != applied_hash(desired):
        return "changed"
    if not covers(live, desired):
        return "drifted"
    return None


# --- the plan -------------------------------------------------------------------------


def owned_by(live: Manifest, uid: str) -> bool:
    """Whether the platform with `uid` is the child's controller."""
    refs = live.get("metadata", {}).get("ownerReferences") or []
    return any(r.get("uid") == uid and r.get("kind") == KIND and r.get("controller") for r in refs)


def write_for(desired: Manifest, live: Manifest | None) -> Write | None:
    if live is None:
        verb: Literal["apply", "create"] = "create" if desired["kind"] in CREATE_ONLY else "apply"
        return Write(verb, desired, "created")
    if desired["kind"] in CREATE_ONLY:
        return None
    why = up_to_date(live, desired)
    return Write("apply", desired, why) if why else None


def plan(desired: list[Manifest], live: Live, uid: str) -> Plan:
    """The writes that make the children match `desired` (hash-annotated manifests)."""
    out = Plan()
    floors = replica_floors(desired)
    for manifest in desired:
        current = live.get(key(manifest))
        write = write_for(manifest, current)
        handed = handover(manifest, current, floors.get(manifest["metadata"]["name"]))
        # An existing Deployment gets its replicas handed over before the apply that
        # drops them; a new one right after it is created.
        ordered = (write, handed) if current is None else (handed, write)
        out.writes.extend(w for w in ordered if w is not None)
    wanted = {key(m) for m in desired}
    out.prune.extend(m for k, m in sorted(live.items()) if k not in wanted and owned_by(m, uid))
    return out


# --- replicas handed over to the HPA ---------------------------------------------------


def _owns_replicas(live: Manifest, manager: str) -> bool:
    for entry in live.get("metadata", {}).get("managedFields") or []:
        if entry.get("manager") == manager and entry.get("operation") == "Apply":
            fields = entry.get("fieldsV1") or {}
            if "f:replicas" in (fields.get("f:spec") or {}):
                return True
    return False


def replica_floors(desired: list[Manifest]) -> dict[str, int]:
    """minReplicas of each rendered HPA, by the name of the Deployment it scales."""
    return {
        m["spec"]["scaleTargetRef"]["name"]: int(m["spec"]["minReplicas"])
        for m in desired
        if m["kind"] == "HorizontalPodAutoscaler"
    }


def handover(desired: Manifest, live: Manifest | None, floor: int | None) -> Write | None:
    """With an HPA, the rendered Deployment leaves `replicas` out. Applying that while the
    operator owns `replicas` would remove the field (the Deployment would drop to one
    pod), and a Deployment created without it starts with one. So `replicas` is applied
    alone under a second field manager, which holds it until the HPA's first scale takes
    it over: the documented way to hand a field to an autoscaler."""
    if desired["kind"] != "Deployment" or "replicas" in desired["spec"] or floor is None:
        return None
    current = int((live or {}).get("spec", {}).get("replicas") or 0)
    if live is not None and current >= floor and not _owns_replicas(live, FIELD_MANAGER):
        return None
    metadata = desired["metadata"]
    only = {
        "apiVersion": desired["apiVersion"],
        "kind": desired["kind"],
        "metadata": {"name": metadata["name"], "namespace": metadata["namespace"]},
        "spec": {"replicas": max(current, floor)},
    }
    return Write("apply", only, "handover", HANDOVER_MANAGER)
