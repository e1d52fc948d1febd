"""What the failover says about a platform: its status (written conditionally), the
DatabaseAvailable condition, and Events.

A `Publisher` holds the platform as last seen. Every status write names the
resourceVersion it was computed from; on a conflict it re-reads and re-applies the change,
which may decline (None) when the status moved on meanwhile: that is how the decision to
promote is taken once, by one operator.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pydantic

from accounting_operator import conditions as cond
from accounting_operator import diff, failover
from accounting_operator.k8s import Client, errors, resources
from accounting_operator.spec import AccountingPlatformSpec
from accounting_operator.status import AccountingPlatformStatus, DatabaseStatus, put_condition

logger = logging.getLogger(__name__)

Key = tuple[str, str]
Manifest = dict[str, Any]
Verdict = tuple[str, str, str]
"""A condition's status, reason and message."""
Change = Callable[[AccountingPlatformStatus], AccountingPlatformStatus | None]


def now() -> datetime:
    """Condition times in whole seconds, as Kubernetes writes them."""
    return datetime.now(UTC).replace(microsecond=0)


def precisely() -> datetime:
    """A decision's and a promotion's times keep their microseconds: the seconds to
    promote (status.failoverHistory) are usually well under one."""
    return datetime.now(UTC)


def database(status: AccountingPlatformStatus) -> DatabaseStatus:
    return status.database or DatabaseStatus()


def with_database(
    status: AccountingPlatformStatus, state: DatabaseStatus
) -> AccountingPlatformStatus:
    return status.model_copy(update={"database": state})


def with_condition(
    status: AccountingPlatformStatus, verdict: Verdict, at: datetime
) -> AccountingPlatformStatus:
    conditions = put_condition(
        status.conditions,
        failover.DATABASE_AVAILABLE,
        verdict,
        status.observed_generation,
        at.replace(microsecond=0),
    )
    return status.model_copy(update={"conditions": conditions})


class Publisher:
    """One platform as the failover last saw it, and its writes about it."""

    def __init__(self, client: Client, body: Manifest) -> None:
        self.client = client
        self.body = body

    @property
    def key(self) -> Key:
        return str(self.body["metadata"]["namespace"]), str(self.body["metadata"]["name"])

    def spec(self) -> AccountingPlatformSpec | None:
        try:
            return AccountingPlatformSpec.model_validate(self.body.get("spec") or {})
        except pydantic.ValidationError:
            return None  # the reconcile reports it

    def status(self) -> AccountingPlatformStatus:
        return cond.previous_status(self.body.get("status"))

    def annotation(self, name: str) -> str | None:
        value = (self.body.get("metadata", {}).get("annotations") or {}).get(name)
        return None if value is None else str(value)

    async def write(self, change: Change) -> AccountingPlatformStatus | None:
        """Apply `change` to the status, conditional on the resourceVersion it was read at;
        on a conflict re-read and re-apply. None: `change` declined."""
        namespace, name = self.key
        for _ in range(10):
            before = self.status()
            after = change(before)
            if after is None:
                return None
            if after.wire() == before.wire():
                return after
            version = self.body["metadata"].get("resourceVersion")
            patch = diff.merge_patch(before.wire(), after.wire())  # null clears a field
            try:
                self.body = await self.client.patch_status(namespace, name, patch, version)
                return after
            except errors.ConflictError:
                fresh = await self.client.get(resources.PLATFORM, namespace, name)
                if fresh is None:
                    return None
                self.body = fresh
        raise errors.ConflictError(f"writing the status of {namespace}/{name}", 409, "too busy")

    async def report(self, verdict: Verdict, kind: str) -> None:
        """Set DatabaseAvailable; an Event when its status or reason changes."""
        before = next(
            (c for c in self.status().conditions if c.type == failover.DATABASE_AVAILABLE), None
        )
        if before is not None and (before.status, before.reason, before.message) == verdict:
            return
        await self.write(lambda s: with_condition(s, verdict, now()))
        if before is None or (before.status, before.reason) != verdict[:2]:
            await self.event(kind, verdict[1], verdict[2])

    async def event(self, kind: str, reason: str, message: str) -> None:
        try:
            await self.client.post_event(self.body, kind, reason, message, "Failover")
        except errors.KubeError as error:
            logger.warning("could not post event %s: %s", reason, error)
