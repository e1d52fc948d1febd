"""What the operator's unit tests share: sample specs and a stand-in for the API server.

`server_admits` does what kube-apiserver does with an AccountingPlatform before storing
it (structural defaulting, OpenAPI validation, CEL rules), using the generated CRD, so
every validation case is checked against the CRD as well as against the pydantic model.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterator
from typing import Any

import celpy
import jsonschema
import kubernetes_validate
from celpy.adapter import json_to_cel

from accounting_operator import crd
from accounting_operator.render import Platform
from accounting_operator.spec import AccountingPlatformSpec

KUBERNETES_VERSION = "1.36"
"""Schema version for kubernetes-validate: the local control plane runs 1.36.3."""

NAME = "books"
NAMESPACE = "acct"
UID = "6f1d2c3b-0000-4000-8000-000000000001"

MINIMAL: dict[str, Any] = {
    "version": "1.4.2",
    "database": {
        "primary": {"host": "pg.acct.svc"},
        "credentialsSecretRef": {"name": "pg-app"},
    },
    "redis": {"urlSecretRef": {"name": "redis", "key": "url"}},
    "jwtSecretRef": {"name": "jwt", "key": "secret"},
}

FULL: dict[str, Any] = {
    **MINIMAL,
    "environment": "production",
    "webhooks": {"secretKeysSecretRef": {"name": "webhook-keys", "key": "keys"}},
    "database": {
        "primary": {"host": "pg-0.db.internal", "port": 5433, "database": "books"},
        "replicas": [{"host": "pg-1.db.internal"}, {"host": "pg-2.db.internal"}],
        "credentialsSecretRef": {"name": "pg-app", "usernameKey": "user", "passwordKey": "pass"},
        "migrationCredentialsSecretRef": {"name": "pg-owner"},
        "sslMode": "verify-full",
    },
    "ingress": {
        "enabled": True,
        "host": "api.books.example.com",
        "clusterIssuer": "letsencrypt-prod",
        "tlsSecretName": "books-cert",
    },
    "backup": {
        "enabled": True,
        "credentialsSecretRef": {"name": "pg-backup"},
        "s3": {"bucket": "books-backups", "credentialsSecretRef": {"name": "s3"}},
    },
    "failover": {"enabled": True, "credentialsSecretRef": {"name": "pg-failover"}},
}


def merged(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """`base` with `patch` merged in recursively (a JSON merge patch without deletes)."""
    out = copy.deepcopy(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def spec(patch: dict[str, Any] | None = None) -> AccountingPlatformSpec:
    return AccountingPlatformSpec.model_validate(merged(MINIMAL, patch or {}))


def platform(patch: dict[str, Any] | None = None, **facts: Any) -> Platform:
    return Platform(name=NAME, namespace=NAMESPACE, uid=UID, spec=spec(patch), **facts)


def k8s_validate(manifest: dict[str, Any]) -> str:
    """Validates against the Kubernetes OpenAPI schema (strict: unknown fields fail)."""
    return str(kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True))


# --- the API server's admission of an AccountingPlatform, from the CRD ---------------


@functools.cache
def root_schema() -> dict[str, Any]:
    schema: dict[str, Any] = crd.crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def defaulted(schema: dict[str, Any], value: Any) -> Any:
    """Structural defaulting: absent properties get their default, recursively."""
    if isinstance(value, dict) and "properties" in schema:
        out = dict(value)
        for name, child in schema["properties"].items():
            if name not in out and "default" in child:
                out[name] = copy.deepcopy(child["default"])
            if name in out:
                out[name] = defaulted(child, out[name])
        return out
    if isinstance(value, list) and "items" in schema:
        return [defaulted(schema["items"], item) for item in value]
    return value


def _nodes(schema: dict[str, Any], value: Any) -> Iterator[tuple[dict[str, Any], Any]]:
    """Every (schema, value) pair present in the object, the root first."""
    yield schema, value
    if isinstance(value, dict):
        for name, child in schema.get("properties", {}).items():
            if name in value:
                yield from _nodes(child, value[name])
    elif isinstance(value, list) and "items" in schema:
        for item in value:
            yield from _nodes(schema["items"], item)


@functools.cache
def _program(rule: str) -> celpy.Runner:
    environment = celpy.Environment()
    return environment.program(environment.compile(rule))


def cel_failures(resource: dict[str, Any]) -> list[str]:
    """Messages of the CEL rules the resource breaks (it must be defaulted already)."""
    return cel_failures_at(root_schema(), resource)


def cel_failures_at(root: dict[str, Any], value: Any) -> list[str]:
    """Messages of the CEL rules under schema `root` that `value` breaks."""
    failed = []
    for schema, node in _nodes(root, value):
        for rule in schema.get("x-kubernetes-validations", []):
            result = _program(rule["rule"]).evaluate({"self": json_to_cel(node)})
            if not result:
                failed.append(str(rule["message"]))
    return failed


def schema_failures(resource: dict[str, Any]) -> list[str]:
    """OpenAPI errors (types, patterns, ranges, enums, required), as `path: message`."""
    validator = jsonschema.Draft202012Validator(root_schema())
    return [
        ".".join(str(p) for p in error.absolute_path) + ": " + error.message
        for error in validator.iter_errors(resource)
    ]


def server_admits(spec_dict: dict[str, Any], name: str = NAME) -> list[str]:
    """Every reason the API server would reject this spec; empty when it is admitted."""
    resource = defaulted(root_schema(), {"metadata": {"name": name}, "spec": spec_dict})
    # CEL assumes a well-typed object: only evaluated once the schema is satisfied.
    return schema_failures(resource) or cel_failures(resource)


def server_defaulted(spec_dict: dict[str, Any]) -> dict[str, Any]:
    """The spec as stored by the API server after defaulting."""
    resource = defaulted(root_schema(), {"spec": spec_dict})
    out: dict[str, Any] = resource["spec"]
    return out
