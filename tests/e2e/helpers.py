"""The cluster's API clients, bounded polling, and the manifests the e2e tests apply.

Manifests are plain dicts in the API's own field names, turned into the client's models
with `Model.model_validate` (which rejects unknown fields); objects read back are turned
into the same shape with `wire`, so a test reads `pod["status"]["phase"]`."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar, cast

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

T = TypeVar("T")

# Read by the kwok Stages in hack/k8s/stages.yaml (local cluster only): "fail" makes
# a pod's containers exit with OUTCOME_EXIT_CODE (default 1), "never-ready" keeps it
# Running but never Ready. Tests also give their containers the matching real
# behaviour, so the same test means the same on kind or a cloud cluster.
OUTCOME = "kwok.universal-accounting.local/outcome"
OUTCOME_EXIT_CODE = "kwok.universal-accounting.local/exit-code"

PAUSE_IMAGE = "registry.k8s.io/pause:3.10"
BUSYBOX_IMAGE = "busybox:1.37"

Manifest = dict[str, Any]


@dataclasses.dataclass
class Cluster:
    api: k8s.ApiClient
    kubeconfig: str

    @functools.cached_property
    def core(self) -> k8s.CoreV1Api:
        return k8s.CoreV1Api(self.api)

    @functools.cached_property
    def apps(self) -> k8s.AppsV1Api:
        return k8s.AppsV1Api(self.api)

    @functools.cached_property
    def batch(self) -> k8s.BatchV1Api:
        return k8s.BatchV1Api(self.api)

    @functools.cached_property
    def extensions(self) -> k8s.ApiextensionsV1Api:
        return k8s.ApiextensionsV1Api(self.api)

    @functools.cached_property
    def custom(self) -> k8s.CustomObjectsApi:
        return k8s.CustomObjectsApi(self.api)

    def answers(self) -> bool:
        try:
            k8s.VersionApi(self.api).get_code()
        except (ApiException, urllib3.exceptions.HTTPError):
            return False
        return True


@contextlib.contextmanager
def connect(kubeconfig: str) -> Iterator[Cluster]:
    """Clients for the cluster `kubeconfig` names, once its API server answers."""
    # persist_config=False: never write refreshed credentials into the user's file.
    api = k8s_config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=kubeconfig, persist_config=False
    )
    try:
        cluster = Cluster(api=api, kubeconfig=kubeconfig)
        wait_for(f"the API server of {kubeconfig} to answer", cluster.answers, timeout=60)
        yield cluster
    finally:
        api.close()


def wait_for(what: str, check: Callable[[], T | None], timeout: float = 60.0) -> T:
    """Poll `check` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.25)


def exists(read: Callable[[], object]) -> bool:
    try:
        read()
    except ApiException as error:
        if error.status == 404:
            return False
        raise
    return True


def ignore_not_found(call: Callable[[], object]) -> None:
    try:
        call()
    except ApiException as error:
        if error.status != 404:
            raise


def rejection(create: Callable[[], object]) -> tuple[int, str]:
    """The HTTP status and message with which the API server refuses `create`."""
    try:
        create()
    except ApiException as error:
        return int(error.status), str(json.loads(error.body or "{}").get("message", ""))
    raise AssertionError("the API server accepted an object it should have refused")


def wire(model: Any) -> Manifest:
    """An API object as the API server's JSON (camelCase names, unset fields None)."""
    return cast(Manifest, model.to_dict(serialize=True))


def wire_items(listing: Any) -> list[Manifest]:
    return [wire(item) for item in listing.items]


def condition(obj: Manifest, kind: str) -> Manifest | None:
    """The status condition of that type, if the object has one."""
    conditions = (obj.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == kind), None)


def is_true(obj: Manifest, kind: str) -> bool:
    found = condition(obj, kind)
    return found is not None and found["status"] == "True"


def pod_ready(pod: Manifest) -> bool:
    return pod["metadata"]["deletionTimestamp"] is None and is_true(pod, "Ready")


def container(name: str, image: str, command: list[str] | None = None) -> Manifest:
    spec: Manifest = {"name": name, "image": image}
    if command:
        spec["command"] = command
    return spec


def deployment(
    name: str,
    replicas: int,
    containers: list[Manifest],
    annotations: dict[str, str] | None = None,
    **spec: Any,
) -> Manifest:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels, "annotations": annotations or {}},
                "spec": {"containers": containers, "terminationGracePeriodSeconds": 1},
            },
            **spec,
        },
    }


def job_spec(command: list[str], annotations: dict[str, str] | None = None) -> Manifest:
    return {
        "backoffLimit": 0,
        "template": {
            "metadata": {"annotations": annotations or {}},
            "spec": {
                "restartPolicy": "Never",
                "containers": [container("main", BUSYBOX_IMAGE, command)],
            },
        },
    }


def owner_reference(api_version: str, kind: str, owner: Manifest) -> Manifest:
    meta = owner["metadata"]
    return {"apiVersion": api_version, "kind": kind, "name": meta["name"], "uid": meta["uid"]}
