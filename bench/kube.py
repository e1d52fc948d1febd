"""The benchmark's plain Kubernetes client and watches: raw JSON over the `kubernetes`
package's ApiClient, and watch streams that record when each object first reached a
state (and tell listeners at that moment)."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.watch.watch import iter_resp_lines

from accounting_operator import conditions as cond
from accounting_operator import rollout
from accounting_operator.k8s import resources

Manifest = dict[str, Any]
Key = tuple[str, str]
APPLY = "application/apply-patch+yaml"
STOPPING = threading.Event()
"""Set before the cluster is deleted: the watches end quietly."""


def log(message: str) -> None:
    print(f"operator_bench: {message}", file=sys.stderr, flush=True)


class KubeError(RuntimeError):
    def __init__(self, method: str, path: str, status: int, body: bytes) -> None:
        super().__init__(f"{method} {path}: HTTP {status}: {body[:300]!r}")
        self.status = status


class Kube:
    """The plain `kubernetes` client, raw JSON in and out (thread-safe)."""

    def __init__(self, kubeconfig: str, pool: int) -> None:
        configuration = k8s.Configuration()
        k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=kubeconfig, client_configuration=configuration, persist_config=False
        )
        configuration.connection_pool_maxsize = pool
        self.api = k8s.ApiClient(configuration)

    def call(
        self,
        method: str,
        path: str,
        query: Iterable[tuple[str, str]] = (),
        body: Any = None,
        content_type: str | None = None,
        *,
        stream: bool = False,
    ) -> Any:
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        url, headers, body = self.api.param_serialize(
            method,
            path,
            query_params=list(query),
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )[1:4]
        timeout = None if stream else 60
        response = self.api.call_api(
            method, url, header_params=headers, body=body, _request_timeout=timeout
        )
        if stream and response.status == 200:
            return response.response
        raw = response.read()  # type: ignore[no-untyped-call]
        if not 200 <= response.status < 300:
            raise KubeError(method, path, response.status, raw)
        return json.loads(raw) if raw else None

    def get(self, path: str, query: Iterable[tuple[str, str]] = ()) -> Any:
        return self.call("GET", path, query)

    def apply(self, path: str, manifest: Manifest, manager: str) -> Manifest:
        query = [("fieldManager", manager), ("force", "true")]
        applied: Manifest = self.call("PATCH", path, query, manifest, APPLY)
        return applied

    def exists(self, path: str) -> bool:
        try:
            self.get(path)
        except KubeError as error:
            if error.status == 404:
                return False
            raise
        return True


def resource_path(manifest: Manifest, collection: bool = False) -> str:
    """REST path of a namespaced manifest (the operator's table, plus Secrets): the object,
    or its collection."""
    metadata = manifest["metadata"]
    namespace, name = metadata["namespace"], None if collection else metadata["name"]
    if manifest["kind"] == "Secret":
        return f"/api/v1/namespaces/{namespace}/secrets" + (f"/{name}" if name else "")
    return resources.of(manifest).path(namespace, name)


# --- watches: when did each object first reach a state ------------------------------------


@dataclass
class Watcher:
    """A watch stream (list, then watch, re-listing when too old) in a daemon thread,
    recording per object the first time it was seen and the last time `done` became
    true."""

    kube: Kube
    path: str
    done: Callable[[Manifest], bool]
    selector: str = ""
    seen: dict[Key, float] = field(default_factory=dict)
    done_at: dict[Key, float] = field(default_factory=dict)
    is_done: dict[Key, bool] = field(default_factory=dict)
    events: int = 0
    listeners: list[Callable[[Key], None]] = field(default_factory=list)
    """Called (on the watch's thread) with the key of each object that becomes done."""
    _changed: threading.Condition = field(default_factory=threading.Condition)
    _synced: threading.Event = field(default_factory=threading.Event)

    def start(self) -> Watcher:
        threading.Thread(target=self._run, name=f"watch {self.path}", daemon=True).start()
        if not self._synced.wait(60):
            raise RuntimeError(f"could not list {self.path}")
        return self

    def _observe(self, obj: Manifest, deleted: bool = False) -> None:
        now = time.perf_counter()
        metadata = obj["metadata"]
        key = (metadata["namespace"], metadata["name"])
        done = not deleted and self.done(obj)
        with self._changed:
            self.events += 1
            self.seen.setdefault(key, now)
            became_done = done and not self.is_done.get(key)
            if became_done:
                self.done_at[key] = now
            self.is_done[key] = done
            self._changed.notify_all()
        for listener in list(self.listeners) if became_done else ():
            listener(key)

    def _run(self) -> None:
        version = ""
        query = [("labelSelector", self.selector)] if self.selector else []
        while True:
            try:
                if not version:
                    listing = self.kube.get(self.path, query)
                    for item in listing.get("items") or []:
                        self._observe(item)
                    version = listing["metadata"]["resourceVersion"]
                    self._synced.set()
                watch = [("watch", "1"), ("resourceVersion", version), ("timeoutSeconds", "120")]
                watch.append(("allowWatchBookmarks", "true"))
                response = self.kube.call("GET", self.path, [*query, *watch], stream=True)
                for line in iter_resp_lines(response):  # type: ignore[no-untyped-call]
                    if not line:
                        continue
                    event = json.loads(line)
                    obj = event["object"]
                    if event["type"] == "ERROR":
                        version = "" if obj.get("code") == 410 else version
                        break
                    version = obj["metadata"]["resourceVersion"]
                    if event["type"] != "BOOKMARK":
                        self._observe(obj, deleted=event["type"] == "DELETED")
            except (KubeError, urllib3.exceptions.HTTPError, OSError, ValueError) as error:
                if STOPPING.is_set():
                    return  # the cluster is being deleted
                log(f"watch {self.path}: {error}; re-watching")
                time.sleep(0.5)

    def wait(self, keys: set[Key], timeout: float) -> dict[Key, float]:
        """Block until every key is done; when each (last) became done."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not all(self.is_done.get(k) for k in keys):
                left = deadline - time.monotonic()
                if left <= 0:
                    missing = sum(1 for k in keys if not self.is_done.get(k))
                    raise TimeoutError(f"{missing} of {len(keys)} not done in {self.path}")
                self._changed.wait(min(left, 1.0))
            return {k: self.done_at[k] for k in keys}


def platform_converged(obj: Manifest) -> bool:
    """Ready=True and status.observedGeneration current (what `converged` means in e2e)."""
    status = obj.get("status") or {}
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
    return ready and status.get("observedGeneration") == obj["metadata"].get("generation")


def deployment_available(obj: Manifest) -> bool:
    """Rolled out, by the test the operator's status uses."""
    workload = cond.workload(obj)
    return workload is not None and workload.rolled_out(workload.version or "")


def job_succeeded(obj: Manifest) -> bool:
    return rollout.job_phase(obj) == "Succeeded"
