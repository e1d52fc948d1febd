"""A stand-in for the API server's side of a reconcile, for tests without a cluster.

`Server` keeps the live children as the API server would after each write: server-side
apply merges the manifest into the object and records the field manager, defaults and
canonical quantities appear, status is the controllers' (set by the test).
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from accounting_operator import diff, reconcile
from accounting_operator.render.platform import Manifest
from tests.unit.operator import helpers

NOW = datetime(2026, 11, 28, 9, 0, 0, tzinfo=UTC)
LATER = datetime(2026, 11, 28, 9, 5, 0, tzinfo=UTC)

CANONICAL = {"1.5": "1500m", "0.5": "500m", "1024Mi": "1Gi", "2G": "2G"}


def canonical(value: Any) -> Any:
    """Quantities as the API server stores them."""
    if isinstance(value, dict):
        return {k: canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return CANONICAL.get(value, value) if isinstance(value, str) else value


def merge(live: Any, applied: Any) -> Any:
    if isinstance(live, dict) and isinstance(applied, dict):
        out = dict(live)
        for k, v in applied.items():
            out[k] = merge(live.get(k), v)
        return out
    return copy.deepcopy(applied)


def body(
    spec: dict[str, Any] | None = None,
    status: dict[str, Any] | None = None,
    generation: int = 1,
    annotations: dict[str, str] | None = None,
) -> Manifest:
    """An AccountingPlatform as read from the API server."""
    return {
        "apiVersion": "accounting.universalaccounting.com/v1alpha1",
        "kind": "AccountingPlatform",
        "metadata": {
            "name": helpers.NAME,
            "namespace": helpers.NAMESPACE,
            "uid": helpers.UID,
            "generation": generation,
            "annotations": annotations or {},
        },
        "spec": helpers.server_defaulted(helpers.merged(helpers.MINIMAL, spec or {})),
        "status": status or {},
    }


class Server:
    """The live children of one platform."""

    def __init__(self) -> None:
        self.live: diff.Live = {}
        self.writes: list[diff.Write] = []
        self.deleted: list[diff.Key] = []
        self.revision = 0

    def execute(self, plan: diff.Plan) -> tuple[list[Manifest], list[Manifest]]:
        written = []
        for write in plan.writes:
            self.writes.append(write)
            written.append(self.write(write))
        for manifest in plan.prune:
            self.deleted.append(diff.key(manifest))
            self.live.pop(diff.key(manifest), None)
        return written, plan.prune

    def write(self, write: diff.Write) -> Manifest:
        k = diff.key(write.manifest)
        current = self.live.get(k)
        if write.verb == "create" and current is not None:
            return current
        out = merge(
            current or {"metadata": {"uid": f"uid-{k[1]}", "generation": 0}}, write.manifest
        )
        out = canonical(out)
        metadata = out["metadata"]
        metadata["generation"] = int(metadata.get("generation", 0)) + 1
        managers = [
            m for m in metadata.get("managedFields", []) if m["manager"] != write.field_manager
        ]
        spec_fields: dict[str, Any] = {f"f:{name}": {} for name in write.manifest.get("spec", {})}
        managers.append(
            {
                "manager": write.field_manager,
                "operation": "Apply",
                "fieldsV1": {"f:spec": spec_fields},
            }
        )
        metadata["managedFields"] = managers
        self.revision += 1
        metadata["resourceVersion"] = str(self.revision)
        if out["kind"] == "Deployment":
            out["spec"].setdefault("replicas", 1)
            out["spec"].setdefault("progressDeadlineSeconds", 600)
        self.live[k] = out
        return copy.deepcopy(out)

    # --- what the cluster's controllers do ------------------------------------------------

    def finish_job(
        self, outcome: str = "Complete", name: str | None = None, at: datetime = NOW
    ) -> None:
        """Every Job (or the one named) finished as `outcome` (Complete or Failed)."""
        when = at.strftime("%Y-%m-%dT%H:%M:%SZ")
        for (kind, job_name), job in self.live.items():
            if kind == "Job" and name in (None, job_name):
                condition = {"type": outcome, "status": "True", "lastTransitionTime": when}
                job["status"] = {"conditions": [condition]}
                if outcome == "Complete":
                    job["status"]["completionTime"] = when

    def run_cron_job(self, name: str, job: str, outcome: str, at: datetime) -> None:
        """The CronJob `name` made Job `job`, which finished as `outcome` at `at`."""
        template = self.live[("CronJob", name)]["spec"]["jobTemplate"]
        when = at.strftime("%Y-%m-%dT%H:%M:%SZ")
        condition = {"type": outcome, "status": "True", "lastTransitionTime": when}
        if outcome == "Failed":
            condition |= {
                "reason": "BackoffLimitExceeded",
                "message": "Job has reached the specified backoff limit",
            }
        status: dict[str, Any] = {"conditions": [condition]}
        if outcome == "Complete":
            status["completionTime"] = when
        self.live[("Job", job)] = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": job,
                "namespace": helpers.NAMESPACE,
                "labels": template["metadata"]["labels"],
                "ownerReferences": [{"kind": "CronJob", "name": name, "controller": True}],
            },
            "spec": template["spec"],
            "status": status,
        }

    def roll_out(self) -> None:
        """Every Deployment fully rolled out with all pods available."""
        for (kind, _), deployment in self.live.items():
            if kind == "Deployment":
                n = deployment["spec"]["replicas"]
                deployment["status"] = {
                    "observedGeneration": deployment["metadata"]["generation"],
                    "replicas": n,
                    "readyReplicas": n,
                    "updatedReplicas": n,
                    "availableReplicas": n,
                    "conditions": [
                        {"type": "Available", "status": "True"},
                        {
                            "type": "Progressing",
                            "status": "True",
                            "reason": "NewReplicaSetAvailable",
                        },
                    ],
                }


def miss_deadline(server: Server, name: str = "api") -> None:
    """The Deployment `name` (api or worker) missed its progress deadline at its version."""
    deployment = server.live[("Deployment", f"{helpers.NAME}-{name}")]
    n = deployment["spec"]["replicas"]
    deployment["status"] = {
        "observedGeneration": deployment["metadata"]["generation"],
        "replicas": n + 1,
        "readyReplicas": n,
        "updatedReplicas": 1,
        "availableReplicas": n,
        "conditions": [
            {"type": "Available", "status": "True"},
            {
                "type": "Progressing",
                "status": "False",
                "reason": "ProgressDeadlineExceeded",
                "message": f'ReplicaSet "{helpers.NAME}-{name}-abc" has timed out progressing.',
            },
        ],
    }


def reconcile_once(
    server: Server,
    platform_body: Manifest,
    now: datetime = NOW,
    monitors: bool = False,
    rules: bool = False,
) -> tuple[reconcile.Decision, Manifest, list[reconcile.Event]]:
    """One reconcile against `server`: the decision, the new status and the Events."""
    parent = reconcile.Parent.of(platform_body)
    platform = reconcile.parse(parent, monitors, rules)
    decision = reconcile.decide(parent, platform, dict(server.live))
    written: list[Manifest] = []
    pruned: list[Manifest] = []
    if not platform.spec.paused:
        written, pruned = server.execute(decision.plan)
    live = reconcile.after(dict(server.live), written, pruned)
    status, events = reconcile.report(parent, decision, live, now)
    return decision, status.wire(), events


def converge(server: Server, spec: dict[str, Any] | None = None, rounds: int = 4) -> Manifest:
    """Reconcile, letting the Job and the Deployments finish, until Ready; the status."""
    status: Manifest = {}
    for _ in range(rounds):
        _, status, _ = reconcile_once(server, body(spec, status))
        server.finish_job()
        server.roll_out()
    _, status, _ = reconcile_once(server, body(spec, status))
    return status
