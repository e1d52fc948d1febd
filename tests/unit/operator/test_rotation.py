"""Secret rotation: the platform's rotate annotation rolls the API and worker pods (and
nothing else), `kubectl acp rotate` writes it, and a previous JWT key reaches the API."""

from __future__ import annotations

from typing import Any

import pytest

from accounting_operator import render
from accounting_operator.kubectl import requests
from accounting_operator.render import secrets
from accounting_operator.render.platform import (
    ROTATE_ANNOTATION,
    ROTATED_ANNOTATION,
    SECRETS_DIGEST_ANNOTATION,
)
from tests.unit.operator import fakes, helpers
from tests.unit.operator.fakes import Server


def templates(platform: render.Platform) -> dict[str, dict[str, Any]]:
    """Deployment name -> its pod template."""
    return {
        m["metadata"]["name"]: m["spec"]["template"]
        for m in render.render(platform)
        if m["kind"] == "Deployment"
    }


def test_a_new_rotation_changes_the_api_and_worker_pod_templates_only() -> None:
    before = render.render(helpers.platform(helpers.FULL))
    after = render.render(helpers.platform(helpers.FULL, rotation="20261203T180000Z"))
    changed = {m["metadata"]["name"] for m, n in zip(before, after, strict=True) if m != n}
    assert changed == {"books-api", "books-worker"}
    for template in templates(helpers.platform(helpers.FULL, rotation="r2")).values():
        assert template["metadata"]["annotations"][ROTATED_ANNOTATION] == "r2"
    for template in templates(helpers.platform(helpers.FULL)).values():
        assert ROTATED_ANNOTATION not in template["metadata"]["annotations"]


def test_the_operator_reads_the_rotate_annotation_of_the_platform() -> None:
    server = Server()
    status = fakes.converge(server, helpers.MINIMAL)
    body = fakes.body(helpers.MINIMAL, status, annotations={ROTATE_ANNOTATION: "r1"})
    decision, _, _ = fakes.reconcile_once(server, body)
    rolled = {
        m["metadata"]["name"]: m["spec"]["template"]["metadata"]["annotations"]
        for m in decision.desired
        if m["kind"] == "Deployment"
    }
    assert {name: a.get(ROTATED_ANNOTATION) for name, a in rolled.items()} == {
        "books-api": "r1",
        "books-worker": "r1",
    }


def test_a_previous_jwt_key_is_passed_to_the_api_and_worker_by_reference() -> None:
    ref = {"name": "jwt", "key": "previous"}
    for template in templates(
        helpers.platform(helpers.merged(helpers.FULL, {"jwtPreviousSecretRef": ref}))
    ).values():
        env = {e["name"]: e for e in template["spec"]["containers"][0]["env"]}
        assert env["JWT_PREVIOUS_SECRET"]["valueFrom"] == {"secretKeyRef": ref}
    for template in templates(helpers.platform(helpers.FULL)).values():
        names = {e["name"] for e in template["spec"]["containers"][0]["env"]}
        assert "JWT_PREVIOUS_SECRET" not in names


def platform_with(annotations: dict[str, str]) -> dict[str, Any]:
    return {
        "metadata": {"name": "books", "namespace": "acct", "annotations": annotations},
        "spec": helpers.MINIMAL,
    }


def test_kubectl_acp_rotate_sets_the_annotation_and_refuses_a_token_already_asked() -> None:
    change = requests.rotate(platform_with({}), "t1")
    assert change.patch == {"metadata": {"annotations": {ROTATE_ANNOTATION: "t1"}}}
    assert "books-api" in change.done
    assert "books-worker" in change.done
    with pytest.raises(requests.RefusedError, match="already asked"):
        requests.rotate(platform_with({ROTATE_ANNOTATION: "t1"}), "t1")


# --- watch_secrets: a digest of the Secret keys the pods read ------------------------


def secret(uid: str = "u1", **data: str) -> dict[str, Any]:
    return {"kind": "Secret", "metadata": {"uid": uid}, "data": data}


def test_the_pods_secret_keys_are_found_from_their_templates() -> None:
    wanted = secrets.refs(helpers.platform(helpers.MINIMAL))
    assert wanted == (
        ("jwt", "secret"),
        ("pg-app", "password"),
        ("pg-app", "username"),
        ("redis", "url"),
    )
    jwt = helpers.merged(helpers.MINIMAL, {"jwtPreviousSecretRef": {"name": "old", "key": "k"}})
    assert ("old", "k") in secrets.refs(helpers.platform(jwt))


def test_the_digest_changes_with_a_value_the_pods_read_and_with_nothing_else() -> None:
    wanted = (("jwt", "secret"), ("redis", "url"))
    base = {"jwt": secret(secret="czE=", unused="eDE="), "redis": secret(url="dTE=")}
    digest = secrets.digest(wanted, base)
    assert secrets.digest(wanted, {**base, "jwt": secret(secret="czI=", unused="eDE=")}) != digest
    assert secrets.digest(wanted, {**base, "jwt": secret(secret="czE=", unused="eDI=")}) == digest
    assert secrets.digest(wanted, {**base, "redis": None}) != digest  # deleted
    assert secrets.digest(wanted, {**base, "redis": secret("u2", url="dTE=")}) != digest  # new
    assert "czE" not in digest
    assert secrets.missing(wanted, base) == []
    assert secrets.missing(wanted, {**base, "redis": None}) == [("redis", "url")]
    assert secrets.missing(wanted, {**base, "jwt": secret(unused="eDE=")}) == [("jwt", "secret")]
    assert len(digest) == 32


def test_a_new_digest_rolls_the_api_and_worker_only() -> None:
    before = render.render(helpers.platform(helpers.FULL, secrets_digest="a" * 32))
    after = render.render(helpers.platform(helpers.FULL, secrets_digest="b" * 32))
    changed = {m["metadata"]["name"] for m, n in zip(before, after, strict=True) if m != n}
    assert changed == {"books-api", "books-worker"}
    for template in templates(helpers.platform(helpers.FULL)).values():
        assert SECRETS_DIGEST_ANNOTATION not in template["metadata"]["annotations"]
