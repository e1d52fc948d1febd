"""The controller's I/O sequence, over a fake apply layer: what it writes, when it writes
the status, and how failures surface (status first, then the exception)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from prometheus_client import REGISTRY

from accounting_operator import cache, controller, diff, metrics
from accounting_operator.k8s import errors, resources
from accounting_operator.settings import Settings
from tests.unit.operator import fakes, helpers


def merged(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """A JSON merge patch applied, as the API server does (RFC 7386)."""
    out = dict(target)
    for name, value in patch.items():
        if value is None:
            out.pop(name, None)
        elif isinstance(value, dict):
            out[name] = merged(out.get(name) or {}, value)
        else:
            out[name] = value
    return out


class FakeClient:
    """The apply layer's interface, backed by `fakes.Server`; counts every call."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.server = fakes.Server()
        self.body = body
        self.calls: list[str] = []
        self.events: list[tuple[str, str]] = []
        self.fail_apply: errors.KubeError | None = None

    async def serves(self, group_version: str, plural: str) -> bool:
        self.calls.append("discover")
        return False

    async def select(
        self, resource: resources.Resource, namespace: str, selector: str
    ) -> list[Any]:
        self.calls.append(f"list {resource.plural}")
        return [
            copy.deepcopy(m) for (kind, _), m in self.server.live.items() if kind == resource.kind
        ]

    async def apply(self, manifest: dict[str, Any], field_manager: str) -> dict[str, Any]:
        self.calls.append(f"apply {manifest['kind']}")
        if self.fail_apply:
            raise self.fail_apply
        return self.server.write(diff.Write("apply", manifest, "changed", field_manager))

    async def create(self, manifest: dict[str, Any]) -> dict[str, Any] | None:
        self.calls.append(f"create {manifest['kind']}")
        return self.server.write(diff.Write("create", manifest, "created"))

    async def delete(self, resource: resources.Resource, namespace: str, name: str) -> None:
        self.calls.append(f"delete {resource.kind}")
        self.server.live.pop((resource.kind, name), None)

    async def patch_status(
        self, namespace: str, name: str, status: dict[str, Any], resource_version: str | None = None
    ) -> None:
        self.calls.append("status")
        self.body["status"] = merged(self.body.get("status") or {}, status)

    async def post_event(
        self, involved: Any, kind: str, reason: str, message: str, action: str
    ) -> None:
        self.events.append((kind, reason))

    def writes(self) -> list[str]:
        return [c for c in self.calls if c.split()[0] in {"apply", "create", "delete", "status"}]


def context(client: FakeClient) -> controller.Context:
    return controller.Context(client=client, settings=Settings())  # type: ignore[arg-type]


async def converge(client: FakeClient) -> None:
    for _ in range(4):
        await controller.run(context(client), client.body)
        client.server.finish_job()
        client.server.roll_out()


async def test_second_run_makes_no_write() -> None:
    client = FakeClient(fakes.body())
    await converge(client)
    assert client.body["status"]["phase"] == "Ready"
    client.calls.clear()
    await controller.run(context(client), client.body)
    assert client.writes() == []
    assert all(c.startswith("list ") or c == "discover" for c in client.calls)


async def test_with_watched_children_a_reconcile_lists_nothing() -> None:
    client = FakeClient(fakes.body())
    index: dict[cache.Owner, list[Any]] = {}
    ctx = controller.Context(client, Settings(), children=cache.Children(index))  # type: ignore[arg-type]
    await controller.run(ctx, client.body)
    assert client.writes()
    assert not [c for c in client.calls if c.startswith("list ")]
    # The watch has delivered none of those writes yet: the next reconcile still sees
    # them (the operator's own responses) and repeats none.
    client.calls.clear()
    await controller.run(ctx, client.body)
    assert client.calls == []
    index[(helpers.NAMESPACE, helpers.NAME)] = [
        copy.deepcopy(m) for m in client.server.live.values()
    ]
    assert ctx.children is not None
    assert ctx.children.read((helpers.NAMESPACE, helpers.NAME)) == client.server.live
    await controller.run(ctx, client.body)
    assert client.calls == []


async def test_invalid_spec_is_reported_then_raised() -> None:
    body = fakes.body()
    body["spec"]["api"]["replicas"] = 0
    client = FakeClient(body)
    with pytest.raises(controller.InvalidSpecError, match=r"spec\.api\.replicas"):
        await controller.run(context(client), body)
    assert client.writes() == ["status"]
    assert body["status"]["phase"] == "Degraded"
    degraded = next(c for c in body["status"]["conditions"] if c["type"] == "Degraded")
    assert (degraded["status"], degraded["reason"]) == ("True", "InvalidSpec")
    assert client.events == [("Warning", "InvalidSpec")]
    # The same invalid spec again: no new status write, no new Event.
    with pytest.raises(controller.InvalidSpecError):
        await controller.run(context(client), body)
    assert client.writes() == ["status"]
    assert len(client.events) == 1


async def test_a_rejected_write_is_reported_then_raised() -> None:
    client = FakeClient(fakes.body())
    client.fail_apply = errors.RejectedError("applying ServiceAccount acct/books", 422, "nope")
    with pytest.raises(errors.RejectedError):
        await controller.run(context(client), client.body)
    degraded = next(c for c in client.body["status"]["conditions"] if c["type"] == "Degraded")
    assert degraded["reason"] == "ApplyFailed"
    assert "applying ServiceAccount acct/books: nope" in degraded["message"]


def retries() -> float:
    found = REGISTRY.get_sample_value("accounting_operator_reconciles_total", {"result": "retry"})
    return found or 0.0


async def test_a_retryable_failure_leaves_the_status_alone() -> None:
    client = FakeClient(fakes.body())
    client.fail_apply = errors.ConflictError("applying ServiceAccount acct/books", 409, "conflict")
    before = retries()
    with pytest.raises(errors.ConflictError):
        await controller.run(context(client), client.body)
    assert "status" not in client.calls
    assert retries() == before + 1
    assert controller.retry_delay(errors.ConflictError("x", 409, "")) == 1.0
    assert controller.retry_delay(errors.RejectedError("x", 422, "")) is None


async def test_paused_reads_and_reports_but_never_writes_children() -> None:
    client = FakeClient(fakes.body({"paused": True}))
    await controller.run(context(client), client.body)
    assert client.writes() == ["status"]
    assert client.body["status"]["phase"] == "Paused"


async def test_backup_times_are_exported_as_unix_timestamps() -> None:
    backups = {
        "backup": {
            "enabled": True,
            "credentialsSecretRef": {"name": "pg-backup"},
            "s3": {"bucket": "bkp", "credentialsSecretRef": {"name": "s3"}},
        }
    }
    client = FakeClient(fakes.body(backups))
    await converge(client)
    labels = {"namespace": helpers.NAMESPACE, "platform": helpers.NAME}
    gauge = "accounting_operator_backup_last_success_timestamp_seconds"
    assert REGISTRY.get_sample_value(gauge, labels) is None  # no backup yet: no series
    client.server.run_cron_job("books-backup", "books-backup-1", "Complete", fakes.LATER)
    await controller.run(context(client), client.body)
    assert REGISTRY.get_sample_value(gauge, labels) == fakes.LATER.timestamp()
    # A failed restore test is exported too: the alert compares it with the last verified.
    failed_test = "accounting_operator_backup_last_failed_verification_timestamp_seconds"
    assert REGISTRY.get_sample_value(failed_test, labels) is None
    client.server.run_cron_job("books-verify", "books-verify-1", "Failed", fakes.LATER)
    await controller.run(context(client), client.body)
    assert REGISTRY.get_sample_value(failed_test, labels) == fakes.LATER.timestamp()
    metrics.forget(helpers.NAMESPACE, helpers.NAME)
    assert REGISTRY.get_sample_value(gauge, labels) is None
    assert REGISTRY.get_sample_value(failed_test, labels) is None


async def test_a_rollback_is_counted_once_and_cleared_from_the_status() -> None:
    """The status is merge-patched: a cleared field (status.rollback after spec.version
    moved on) is sent as null, or the merge would keep it."""
    client = FakeClient(fakes.body())
    await converge(client)
    client.body["spec"]["version"] = "1.5.0"
    await controller.run(context(client), client.body)
    client.server.finish_job()
    await controller.run(context(client), client.body)
    fakes.miss_deadline(client.server, "api")
    rollbacks = "accounting_operator_rollbacks_total"
    labels = {"reason": "ProgressDeadlineExceeded"}
    before = REGISTRY.get_sample_value(rollbacks, labels)
    await controller.run(context(client), client.body)
    assert client.body["status"]["rollback"]["version"] == "1.5.0"
    await controller.run(context(client), client.body)  # still rolled back: counted once
    assert REGISTRY.get_sample_value(rollbacks, labels) == (before or 0) + 1
    client.body["spec"]["version"] = "1.5.1"
    await controller.run(context(client), client.body)
    assert "rollback" not in client.body["status"]
    assert client.events.count(("Warning", "RolledBack")) == 1
