"""Deciding what to write: hashes, drift, create-only Jobs, pruning, replica handover."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest

from accounting_operator import FIELD_MANAGER, HANDOVER_MANAGER, diff, render
from tests.unit.operator import helpers

OWNER = {"kind": "AccountingPlatform", "uid": helpers.UID, "controller": True}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("250m", Decimal("0.25")),
        ("1.5", Decimal("1.5")),
        ("1500m", Decimal("1.5")),
        ("512Mi", Decimal(512 * 2**20)),
        ("1Gi", Decimal(2**30)),
        ("2G", Decimal(2 * 10**9)),
        ("1e3", Decimal(1000)),
        ("http", None),
        ("1.0.0", None),
    ],
)
def test_quantity(text: str, value: Decimal | None) -> None:
    assert diff.quantity(text) == value


@pytest.mark.parametrize(
    ("live", "desired", "covered"),
    [
        ({"a": 1, "b": 2}, {"a": 1}, True),  # fields the server added
        ({"a": 1}, {"a": 2}, False),
        ({}, {"a": {}}, True),  # an empty map the server dropped
        ({}, {"a": False}, True),
        ({}, {"a": True}, False),
        ({"cpu": "1500m"}, {"cpu": "1.5"}, True),
        ({"memory": "1Gi"}, {"memory": "1024Mi"}, True),
        ({"memory": "1Gi"}, {"memory": "1G"}, False),
        ({"port": 80}, {"port": "80"}, False),
        ({"x": [1, 2]}, {"x": [1, 2]}, True),
        ({"x": [1, 2, 3]}, {"x": [1, 2]}, False),
        ({"x": [{"a": 1, "b": 2}]}, {"x": [{"a": 1}]}, True),
        ({"x": 1}, {"x": True}, False),
    ],
)
def test_covers(live: dict[str, Any], desired: dict[str, Any], covered: bool) -> None:
    assert diff.covers(live, desired) is covered


def test_hash_ignores_key_order_and_its_own_annotation() -> None:
    manifest = render.render(helpers.platform())[1]
    shuffled = dict(reversed(list(manifest.items())))
    assert diff.manifest_hash(manifest) == diff.manifest_hash(shuffled)
    annotated = diff.annotated(manifest)
    assert diff.manifest_hash(annotated) == diff.manifest_hash(manifest)
    assert diff.applied_hash(annotated) == diff.manifest_hash(manifest)


def test_hash_changes_with_the_manifest() -> None:
    one = render.render(helpers.platform())[1]
    two = render.render(helpers.platform({"logLevel": "DEBUG"}))[1]
    assert diff.manifest_hash(one) != diff.manifest_hash(two)


def desired(patch: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    return [diff.annotated(m) for m in render.render(helpers.platform(patch))]


def live_of(manifests: list[dict[str, Any]]) -> diff.Live:
    return {diff.key(m): copy.deepcopy(m) for m in manifests}


def test_absent_children_are_applied_and_jobs_created() -> None:
    plan = diff.plan(desired(), {}, helpers.UID)
    verbs = {w.manifest["kind"]: w.verb for w in plan.writes if w.why == "created"}
    assert verbs["Job"] == "create"
    assert {v for k, v in verbs.items() if k != "Job"} == {"apply"}
    assert plan.prune == []


def test_a_live_job_is_never_patched() -> None:
    wanted = desired()
    live = live_of(wanted)
    job = next(k for k in live if k[0] == "Job")
    live[job]["spec"]["backoffLimit"] = 99
    live[job]["metadata"]["annotations"][diff.HASH_ANNOTATION] = "other"
    assert not any(w.manifest["kind"] == "Job" for w in diff.plan(wanted, live, helpers.UID).writes)


def test_changed_spec_is_applied_as_changed() -> None:
    fixed = {"api": {"autoscaling": {"enabled": False}}}
    live = live_of(desired(fixed))
    plan = diff.plan(desired({**fixed, "worker": {"replicas": 5}}), live, helpers.UID)
    assert {(w.manifest["kind"], w.why) for w in plan.writes} == {("Deployment", "changed")}


def test_prunes_only_what_the_platform_owns() -> None:
    wanted = desired()
    stray = {"kind": "Ingress", "metadata": {"name": "books", "ownerReferences": [OWNER]}}
    foreign = {"kind": "Ingress", "metadata": {"name": "other", "ownerReferences": []}}
    live = {**live_of(wanted), ("Ingress", "books"): stray, ("Ingress", "other"): foreign}
    plan = diff.plan(wanted, live, helpers.UID)
    assert plan.prune == [stray]


def deployment(replicas: int | None, managers: list[str]) -> dict[str, Any]:
    entries = [
        {"manager": m, "operation": "Apply", "fieldsV1": {"f:spec": {"f:replicas": {}}}}
        for m in managers
    ]
    spec = {} if replicas is None else {"replicas": replicas}
    return {"kind": "Deployment", "spec": spec, "metadata": {"managedFields": entries}}


@pytest.mark.parametrize(
    ("live", "expected"),
    [
        (None, 3),  # created without replicas: start at the HPA's minimum
        (deployment(3, [HANDOVER_MANAGER]), None),  # handed over already
        (deployment(7, ["kube-controller-manager"]), None),  # the HPA owns it
        (deployment(5, [FIELD_MANAGER]), 5),  # autoscaling just enabled: keep 5
        (deployment(1, ["kubectl-scale"]), 3),  # below the minimum
    ],
    ids=["new", "handed-over", "hpa-owned", "was-fixed", "below-minimum"],
)
def test_replicas_handover_to_the_hpa(live: dict[str, Any] | None, expected: int | None) -> None:
    api = next(m for m in desired() if m["kind"] == "Deployment")
    write = diff.handover(api, live, floor=3)
    if expected is None:
        assert write is None
    else:
        assert write is not None
        assert write.field_manager == HANDOVER_MANAGER
        assert write.manifest["spec"] == {"replicas": expected}


def test_no_handover_without_autoscaling() -> None:
    api = next(
        m
        for m in desired({"api": {"autoscaling": {"enabled": False}}})
        if m["kind"] == "Deployment"
    )
    assert diff.handover(api, None, floor=None) is None


@pytest.mark.parametrize(
    ("before", "after", "patch"),
    [
        ({}, {"phase": "Ready"}, {"phase": "Ready"}),
        ({"phase": "Ready", "rollback": {"version": "2"}}, {"phase": "Ready"},
         {"rollback": None}),
        ({"components": {"api": {"replicas": 3}, "worker": {"replicas": 2}}},
         {"components": {"api": {"replicas": 3}}},
         {"components": {"worker": None}}),
        ({"conditions": [{"type": "A"}, {"type": "B"}]}, {"conditions": [{"type": "A"}]},
         {"conditions": [{"type": "A"}]}),
        ({"ready": "3/3"}, {"ready": "2/3"}, {"ready": "2/3"}),
        ({"ready": "3/3", "database": {"activePrimary": "a:1"}},
         {"ready": "2/3", "database": {"activePrimary": "a:1"}}, {"ready": "2/3"}),
    ],
    ids=["new-field", "cleared-field", "cleared-nested-field", "lists-replace", "changed",
         "unchanged-fields-left-alone"],
)  # fmt: skip
def test_merge_patch(before: dict[str, Any], after: dict[str, Any], patch: dict[str, Any]) -> None:
    assert diff.merge_patch(before, after) == patch
