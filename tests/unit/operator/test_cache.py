"""The children cache: kopf's index with the operator's own writes laid over it until the
watch catches up, so a reconcile right after a write neither misses nor repeats it."""

from __future__ import annotations

from typing import Any

import pytest

from accounting_operator import cache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def child(kind: str, name: str, version: str, platform: str = "books") -> dict[str, Any]:
    labels = {"app.kubernetes.io/instance": platform}
    metadata = {"name": name, "namespace": "ns", "labels": labels, "resourceVersion": version}
    return {"kind": kind, "metadata": metadata}


OWNER = ("ns", "books")


@pytest.fixture
def clock() -> Clock:
    return Clock()


def cached(index: dict[Any, list[Any]], clock: Clock) -> cache.Children:
    return cache.Children(index, ttl=10.0, clock=clock)


def test_reads_a_platforms_children_from_the_index_by_kind_and_name(clock: Clock) -> None:
    index = {OWNER: [child("Service", "books-api", "5")], ("ns", "other"): [child("Job", "j", "1")]}
    assert cached(index, clock).read(OWNER) == {("Service", "books-api"): index[OWNER][0]}
    assert cached(index, clock).read(("ns", "nothing")) == {}


def test_a_write_is_seen_before_the_watch_delivers_it(clock: Clock) -> None:
    index: dict[Any, list[Any]] = {OWNER: [child("Service", "books-api", "5")]}
    children = cached(index, clock)
    children.wrote(child("Service", "books-api", "9"))
    children.wrote(child("ConfigMap", "books-config", "10"))
    live = children.read(OWNER)
    assert live[("Service", "books-api")]["metadata"]["resourceVersion"] == "9"
    assert ("ConfigMap", "books-config") in live


def test_the_index_wins_once_it_holds_the_write_or_newer(clock: Clock) -> None:
    index: dict[Any, list[Any]] = {OWNER: [child("Service", "books-api", "5")]}
    children = cached(index, clock)
    children.wrote(child("Service", "books-api", "9"))
    index[OWNER] = [child("Service", "books-api", "12")]  # e.g. edited by someone since
    assert children.read(OWNER)[("Service", "books-api")]["metadata"]["resourceVersion"] == "12"
    index[OWNER] = []  # then deleted: the overlay was dropped, the deletion shows
    assert children.read(OWNER) == {}


def test_an_overlay_expires_so_a_missed_change_is_not_hidden_for_long(clock: Clock) -> None:
    children = cached({}, clock)
    children.wrote(child("Service", "books-api", "9"))
    clock.now = 9.9
    assert ("Service", "books-api") in children.read(OWNER)
    clock.now = 10.0
    assert children.read(OWNER) == {}


def test_a_deletion_hides_the_stale_object_until_the_watch_drops_it(clock: Clock) -> None:
    stale = child("Ingress", "books", "7")
    index: dict[Any, list[Any]] = {OWNER: [stale]}
    children = cached(index, clock)
    children.deleted(stale)
    assert children.read(OWNER) == {}
    index[OWNER] = [child("Ingress", "books", "20")]  # created again since
    assert ("Ingress", "books") in children.read(OWNER)


@pytest.mark.parametrize(
    "manifest",
    [
        {"kind": "Service", "metadata": {"name": "x", "namespace": "ns", "resourceVersion": "3"}},
        child("Service", "books-api", "not-a-number"),
    ],
    ids=["no instance label", "opaque resourceVersion"],
)
def test_writes_it_cannot_place_are_left_to_the_index(
    clock: Clock, manifest: dict[str, Any]
) -> None:
    children = cached({}, clock)
    children.wrote(manifest)
    assert children.read(OWNER) == {}


def test_the_index_keeps_what_a_reconcile_reads_and_drops_the_rest() -> None:
    managers = [{"manager": "accounting-operator", "fieldsV1": {}}]
    for kind, keeps_status, keeps_managers in (
        ("Deployment", True, True),
        ("Job", True, False),
        ("HorizontalPodAutoscaler", False, False),
        ("ConfigMap", False, False),
    ):
        manifest = child(kind, "x", "1") | {"spec": {"a": 1}, "status": {"b": 2}}
        manifest["metadata"]["managedFields"] = managers
        slimmed = cache.slim(manifest)
        assert slimmed["spec"] == {"a": 1}
        assert slimmed["metadata"]["labels"] == manifest["metadata"]["labels"]
        assert ("status" in slimmed) is keeps_status
        assert ("managedFields" in slimmed["metadata"]) is keeps_managers
        assert manifest["metadata"]["managedFields"] == managers  # the event is untouched


def with_uid(manifest: dict[str, Any], uid: str, namespace: str = "ns") -> dict[str, Any]:
    manifest["metadata"] |= {"uid": uid, "namespace": namespace}
    return manifest


def test_a_deletion_the_watch_reports_drops_the_write_laid_over_it(clock: Clock) -> None:
    index: dict[Any, list[Any]] = {OWNER: [child("ConfigMap", "books-config", "100")]}
    children = cached(index, clock)
    children.wrote(child("ConfigMap", "books-config", "100"))
    index[OWNER] = []  # deleted by hand; the watch says so
    children.forget(child("ConfigMap", "books-config", "100"))
    assert children.read(OWNER) == {}


def test_children_deleted_while_the_watch_was_away_are_found_by_a_list(clock: Clock) -> None:
    kept = with_uid(child("Service", "books-api", "5"), "u-kept")
    ghost = with_uid(child("ConfigMap", "books-config", "6"), "u-ghost")
    other = with_uid(child("ConfigMap", "other-config", "7", platform="other"), "u-other", "b")
    index: dict[Any, list[Any]] = {OWNER: [kept, ghost], ("b", "other"): [other]}
    children = cached(index, clock)
    # A list of ConfigMaps in namespace ns at revision 10 no longer has books-config.
    assert children.audit("ConfigMap", "ns", [], 10) == {OWNER}
    assert children.read(OWNER) == {("Service", "books-api"): kept}
    assert ("ConfigMap", "other-config") in children.read(("b", "other"))  # not listed there
    assert children.audit("ConfigMap", "ns", [], 11) == set()  # reported once
    # Re-created since: the new object (another uid) shows, the ghost does not.
    again = with_uid(child("ConfigMap", "books-config", "12"), "u-new")
    index[OWNER].append(again)
    assert children.read(OWNER)[("ConfigMap", "books-config")] is again


def test_an_object_newer_than_the_list_is_no_ghost(clock: Clock) -> None:
    fresh = with_uid(child("ConfigMap", "books-config", "15"), "u-fresh")
    children = cached({OWNER: [fresh]}, clock)
    assert children.audit("ConfigMap", None, [], 10) == set()
    assert ("ConfigMap", "books-config") in children.read(OWNER)
