"""The apply layer: paths, the error classes, and the requests it makes (fake transport)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import urllib3

from accounting_operator.k8s import Client, errors, resources

DEPLOYMENTS = resources.of({"apiVersion": "apps/v1", "kind": "Deployment"})
CONFIG_MAPS = resources.of({"apiVersion": "v1", "kind": "ConfigMap"})


def test_paths() -> None:
    assert DEPLOYMENTS.path("acct") == "/apis/apps/v1/namespaces/acct/deployments"
    assert CONFIG_MAPS.path("acct", "c") == "/api/v1/namespaces/acct/configmaps/c"
    assert resources.PLATFORM.path("acct", "books", "status") == (
        "/apis/accounting.universalaccounting.com/v1alpha1/namespaces/acct/accountingplatforms"
        "/books/status"
    )


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(resources.UnknownKindError):
        resources.of({"apiVersion": "v1", "kind": "Pod"})
    with pytest.raises(resources.UnknownKindError):
        resources.of({"apiVersion": "extensions/v1beta1", "kind": "Deployment"})


@pytest.mark.parametrize(
    ("status", "cls", "retryable"),
    [
        (404, errors.NotFoundError, True),
        (409, errors.ConflictError, True),
        (403, errors.ForbiddenError, False),
        (400, errors.RejectedError, False),
        (422, errors.RejectedError, False),
        (401, errors.UnavailableError, True),
        (429, errors.UnavailableError, True),
        (500, errors.UnavailableError, True),
        (503, errors.UnavailableError, True),
    ],
)
def test_error_classes(status: int, cls: type[errors.KubeError], retryable: bool) -> None:
    body = json.dumps({"kind": "Status", "message": "the reason"})
    error = errors.from_response("applying X", status, body)
    assert type(error) is cls
    assert isinstance(error, errors.RetryableError) is retryable
    assert str(error) == f"applying X: the reason (HTTP {status})"


def test_retry_after_sets_the_delay() -> None:
    error = errors.from_response("x", 429, b"", {"Retry-After": "7"})
    assert isinstance(error, errors.RetryableError)
    assert error.delay == 7.0


class Response:
    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self.headers: dict[str, str] = {}
        self._data = json.dumps(body).encode()

    def read(self) -> bytes:
        return self._data


class FakeApi:
    """Records requests; answers from a queue of (status, body) or raises."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.requests: list[dict[str, Any]] = []

    def param_serialize(self, method: str, path: str, **kw: Any) -> tuple[Any, ...]:
        query = "&".join(f"{k}={v}" for k, v in kw["query_params"])
        url = f"https://k8s{path}" + (f"?{query}" if query else "")
        return method, url, kw["header_params"], kw["body"], None

    def call_api(self, method: str, url: str, **kw: Any) -> Response:
        self.requests.append({"method": method, "url": url, **kw})
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return Response(*answer)

    def close(self) -> None:
        pass


def client(api: FakeApi) -> Client:
    return Client(api, workers=1, timeout=5)  # type: ignore[arg-type]


MANIFEST = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "c", "namespace": "acct"},
    "data": {"a": "1"},
}


async def test_apply_is_a_forced_server_side_apply() -> None:
    api = FakeApi((200, MANIFEST))
    assert await client(api).apply(MANIFEST) == MANIFEST
    (request,) = api.requests
    assert request["method"] == "PATCH"
    assert request["url"] == (
        "https://k8s/api/v1/namespaces/acct/configmaps/c?fieldManager=accounting-operator&force=true"
    )
    assert request["header_params"]["Content-Type"] == "application/apply-patch+yaml"
    assert request["body"] == MANIFEST


async def test_create_of_an_existing_object_is_none() -> None:
    api = FakeApi((409, {"reason": "AlreadyExists", "message": "exists"}))
    assert await client(api).create(MANIFEST) is None
    assert api.requests[0]["method"] == "POST"


async def test_delete_of_a_missing_object_is_fine() -> None:
    api = FakeApi((404, {"message": "not found"}))
    await client(api).delete(CONFIG_MAPS, "acct", "c")
    assert api.requests[0]["body"]["propagationPolicy"] == "Background"


async def test_select_returns_manifests() -> None:
    api = FakeApi((200, {"items": [{"metadata": {"name": "d"}}]}))
    found = await client(api).select(DEPLOYMENTS, "acct", "a=b")
    assert found == [{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}}]
    assert api.requests[0]["url"].endswith("/deployments?labelSelector=a=b")


async def test_get_of_a_missing_object_is_none() -> None:
    api = FakeApi((404, {"message": "not found"}))
    assert await client(api).get(CONFIG_MAPS, "acct", "c") is None


async def test_status_is_a_merge_patch_of_the_subresource() -> None:
    api = FakeApi((200, {}))
    await client(api).patch_status("acct", "books", {"phase": "Ready"})
    (request,) = api.requests
    assert request["url"].endswith("/accountingplatforms/books/status")
    assert request["header_params"]["Content-Type"] == "application/merge-patch+json"
    assert request["body"] == {"status": {"phase": "Ready"}}


async def test_discovery() -> None:
    served = {"resources": [{"name": "servicemonitors"}, {"name": "podmonitors"}]}
    assert await client(FakeApi((200, served))).serves(
        "monitoring.coreos.com/v1", "servicemonitors"
    )
    assert not await client(FakeApi((404, {}))).serves(
        "monitoring.coreos.com/v1", "servicemonitors"
    )


async def test_errors_become_exception_classes() -> None:
    api = FakeApi((422, {"message": "spec.replicas: Invalid value"}))
    with pytest.raises(errors.RejectedError, match=r"applying ConfigMap acct/c: spec.replicas"):
        await client(api).apply(MANIFEST)


async def test_a_lost_connection_is_retryable() -> None:
    api = FakeApi(urllib3.exceptions.ProtocolError("connection reset"))
    with pytest.raises(errors.UnavailableError, match="ProtocolError"):
        await client(api).apply(MANIFEST)


async def test_event_refers_to_the_platform() -> None:
    api = FakeApi((201, {}))
    platform = {
        "apiVersion": "accounting.universalaccounting.com/v1alpha1",
        "kind": "AccountingPlatform",
        "metadata": {"name": "books", "namespace": "acct", "uid": "u-1"},
    }
    await client(api).post_event(platform, "Warning", "MigrationFailed", "it failed", "Reconcile")
    event = api.requests[0]["body"]
    assert event["involvedObject"]["uid"] == "u-1"
    assert (event["type"], event["reason"], event["message"]) == (
        "Warning",
        "MigrationFailed",
        "it failed",
    )
    assert event["metadata"]["name"].startswith("books.")
