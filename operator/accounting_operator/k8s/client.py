"""The only code that talks to the Kubernetes API (import-linter keeps it that way).

Why the synchronous `kubernetes` client, run in a thread pool: it is the reference
client (auth plugins, in-cluster token rotation, kubeconfig handling) that kopf itself
piggybacks on for its login; the asyncio variant that ships in the same package is new
and would open a second aiohttp stack beside kopf's. The blocking calls run on a
dedicated pool of `workers` threads, sized together with the HTTP connection pool, so
the event loop never blocks and API concurrency has one explicit bound. Requests use
raw JSON (`dict`s, as the renderers produce them) against a fixed table of paths
(`resources`): no model round trips, no discovery calls.

Writes are server-side apply with one field manager (`accounting-operator`) and
`force=true`: the operator owns the fields it renders and takes them back from whoever
edited them (that is drift correction). Each call that fails raises an exception from
`errors`, which says whether to retry.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import json
import secrets
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from accounting_operator import FIELD_MANAGER
from accounting_operator.k8s import errors, resources
from accounting_operator.k8s.resources import Resource

Manifest = dict[str, Any]
Query = Iterable[tuple[str, str]]

APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"


class Client:
    """Asynchronous calls over the synchronous client, on a bounded thread pool."""

    def __init__(self, api: k8s.ApiClient, *, workers: int, timeout: float) -> None:
        self._api = api
        self._timeout = timeout
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="k8s-api")

    @classmethod
    def connect(cls, *, workers: int, timeout: float, kubeconfig: str | None = None) -> Client:
        """In a pod: its ServiceAccount; elsewhere: the kubeconfig (KUBECONFIG by default)."""
        configuration = k8s.Configuration()
        try:
            k8s_config.load_incluster_config(  # type: ignore[no-untyped-call]
                client_configuration=configuration
            )
        except k8s_config.ConfigException:
            k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=kubeconfig, client_configuration=configuration, persist_config=False
            )
        configuration.connection_pool_maxsize = workers
        return cls(k8s.ApiClient(configuration), workers=workers, timeout=timeout)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._api.close()  # type: ignore[no-untyped-call]

    # --- reads ---------------------------------------------------------------------

    async def get(self, resource: Resource, namespace: str, name: str) -> Manifest | None:
        """The object, or None when it does not exist."""
        what = f"reading {resource.kind} {namespace}/{name}"
        try:
            found: Manifest = await self._call(what, "GET", resource.path(namespace, name))
        except errors.NotFoundError:
            return None
        return found

    async def select(self, resource: Resource, namespace: str, selector: str) -> list[Manifest]:
        """Objects of one kind in a namespace matching a label selector."""
        what = f"listing {resource.plural} in {namespace}"
        query = [("labelSelector", selector)]
        found = await self._call(what, "GET", resource.path(namespace), query=query)
        # Items of a list carry no apiVersion/kind; put them back so they read like manifests.
        return [
            {"apiVersion": resource.api_version, "kind": resource.kind, **item}
            for item in found.get("items") or []
        ]

    async def select_all(
        self, resource: Resource, namespace: str | None, selector: str
    ) -> tuple[list[Manifest], int]:
        """Objects of one kind in a namespace (None: all namespaces) matching a label
        selector, page by page from one snapshot; and that snapshot's resourceVersion."""
        path = resource.cluster_path() if namespace is None else resource.path(namespace)
        what = f"listing {resource.plural} in {namespace or 'all namespaces'}"
        items: list[Manifest] = []
        query = [("labelSelector", selector), ("limit", "500")]
        found = await self._call(what, "GET", path, query=query)
        at = int(found["metadata"].get("resourceVersion") or 0)
        while True:
            items += [
                {"apiVersion": resource.api_version, "kind": resource.kind, **item}
                for item in found.get("items") or []
            ]
            token = found["metadata"].get("continue")
            if not token:
                return items, at
            found = await self._call(what, "GET", path, query=[*query, ("continue", token)])

    async def serves(self, group_version: str, plural: str) -> bool:
        """Whether the API server serves a resource (e.g. a CRD's), by discovery."""
        what = f"discovering {group_version}"
        try:
            found = await self._call(what, "GET", f"/apis/{group_version}")
        except errors.NotFoundError:
            return False
        return any(r.get("name") == plural for r in found.get("resources") or [])

    # --- writes --------------------------------------------------------------------

    async def apply(self, manifest: Manifest, field_manager: str = FIELD_MANAGER) -> Manifest:
        """Server-side apply; creates the object when it does not exist."""
        resource, namespace, name = _locate(manifest)
        what = f"applying {resource.kind} {namespace}/{name}"
        query = [("fieldManager", field_manager), ("force", "true")]
        path = resource.path(namespace, name)
        applied: Manifest = await self._call(
            what, "PATCH", path, query=query, body=manifest, content_type=APPLY
        )
        return applied

    async def create(self, manifest: Manifest) -> Manifest | None:
        """Create-only (for immutable objects such as Jobs); None if it already exists."""
        resource, namespace, name = _locate(manifest)
        what = f"creating {resource.kind} {namespace}/{name}"
        query = [("fieldManager", FIELD_MANAGER)]
        try:
            created: Manifest = await self._call(
                what, "POST", resource.path(namespace), query=query, body=manifest
            )
        except errors.ConflictError:
            return None
        return created

    async def delete(self, resource: Resource, namespace: str, name: str) -> None:
        """Delete the object and, in the background, what it owns; gone already is fine."""
        what = f"deleting {resource.kind} {namespace}/{name}"
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"}
        with contextlib.suppress(errors.NotFoundError):
            await self._call(what, "DELETE", resource.path(namespace, name), body=body)

    async def secret(self, namespace: str, name: str) -> dict[str, str] | None:
        """The decoded values of a Secret (None: it does not exist). Only the failover's
        credentials are ever read; no value is logged or put in an error."""
        found = await self.get(resources.SECRET, namespace, name)
        if found is None:
            return None
        data = found.get("data") or {}
        return {str(k): base64.b64decode(v).decode() for k, v in data.items()}

    async def patch_status(
        self, namespace: str, name: str, status: Manifest, resource_version: str | None = None
    ) -> Manifest:
        """Merge `status` into the platform's status subresource; with `resource_version`,
        only if the platform is still at that version (else ConflictError: re-read)."""
        what = f"updating the status of {resources.PLATFORM.kind} {namespace}/{name}"
        path = resources.PLATFORM.path(namespace, name, "status")
        body: Manifest = {"status": status}
        if resource_version:
            body["metadata"] = {"resourceVersion": resource_version}
        patched: Manifest = await self._call(what, "PATCH", path, body=body, content_type=MERGE)
        return patched

    async def post_event(
        self, involved: Manifest, kind: str, reason: str, message: str, action: str
    ) -> None:
        """A core/v1 Event about the platform (`kind` Normal or Warning)."""
        event = _event(involved, kind, reason, message, action)
        what = f"posting a {reason} event"
        path = resources.EVENT.path(event["metadata"]["namespace"])
        await self._call(what, "POST", path, body=event)

    # --- plumbing ------------------------------------------------------------------

    async def _call(
        self,
        what: str,
        method: str,
        path: str,
        *,
        query: Query = (),
        body: Manifest | None = None,
        content_type: str | None = None,
    ) -> Any:
        request = Request(what, method, path, list(query), body, content_type)
        call = functools.partial(self._request, request)
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def _request(self, request: Request) -> Any:
        """One HTTP request, in a worker thread; the decoded JSON response."""
        raw = send(self._api, request, self._timeout)
        return json.loads(raw) if raw else None


@dataclass(frozen=True, slots=True)
class Request:
    """One call: what it does (for errors), and the HTTP request."""

    what: str
    method: str
    path: str
    query: list[tuple[str, str]]
    body: Manifest | None = None
    content_type: str | None = None
    accept: str = "application/json"


def send(api: k8s.ApiClient, request: Request, timeout: float) -> bytes:
    """One blocking HTTP request; the raw response body, or an exception from `errors`.
    (The operator runs it on its thread pool; `kubectl acp` calls it directly.)"""
    what = request.what
    headers = {"Accept": request.accept}
    if request.content_type:
        headers["Content-Type"] = request.content_type
    try:
        serialized = api.param_serialize(
            request.method,
            request.path,
            query_params=request.query,
            header_params=headers,
            body=request.body,
            auth_settings=["BearerToken"],
        )
        response = api.call_api(
            serialized[0],
            serialized[1],
            header_params=serialized[2],
            body=serialized[3],
            _request_timeout=timeout,
        )
        raw: bytes = response.read()  # type: ignore[no-untyped-call]
    except (ApiException, urllib3.exceptions.HTTPError, OSError) as error:
        raise errors.unreachable(what, error) from error
    if not 200 <= response.status < 300:
        raise errors.from_response(what, response.status, raw, response.headers)
    return raw


def _event(involved: Manifest, kind: str, reason: str, message: str, action: str) -> Manifest:
    metadata = involved["metadata"]
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"{metadata['name']}.{secrets.token_hex(8)}",
            "namespace": metadata["namespace"],
        },
        "involvedObject": {
            "apiVersion": involved["apiVersion"],
            "kind": involved["kind"],
            "name": metadata["name"],
            "namespace": metadata["namespace"],
            "uid": metadata["uid"],
            "resourceVersion": metadata.get("resourceVersion", ""),
        },
        "type": kind,
        "reason": reason,
        "action": action,
        "message": message[:1024],
        "source": {"component": FIELD_MANAGER},
        "reportingComponent": FIELD_MANAGER,
        "reportingInstance": FIELD_MANAGER,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }


def _locate(manifest: Manifest) -> tuple[Resource, str, str]:
    metadata = manifest["metadata"]
    return resources.of(manifest), metadata["namespace"], metadata["name"]
