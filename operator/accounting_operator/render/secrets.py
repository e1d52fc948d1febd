"""Which Secret keys the API's and worker's pods read, and a digest of their content: with
`watch_secrets` (the chart's watchSecrets) the digest goes into both pod templates
(SECRETS_DIGEST_ANNOTATION), so a changed value rolls the pods, as stakater's Reloader does.

The digest is a SHA-256 over the referenced keys' values, each salted with its Secret's
uid: it tells whether they changed, never what they are, and someone who may read the
Deployment but not the Secret cannot test guesses of a weak password against it (the uid
is as unknown to them as the value). A Secret deleted and created again rolls the pods.
Nothing else of a Secret is kept or logged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from accounting_operator.render import api, worker
from accounting_operator.render.platform import Manifest, Platform

Ref = tuple[str, str]
"""(Secret name, key)."""


def refs(platform: Platform) -> tuple[Ref, ...]:
    """Every secretKeyRef of the API's and worker's containers, sorted."""
    found: set[Ref] = set()
    for deployment in (api.deployment(platform), worker.deployment(platform)):
        spec = deployment["spec"]["template"]["spec"]
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref is not None:
                    found.add((ref["name"], ref["key"]))
    return tuple(sorted(found))


def missing(wanted: tuple[Ref, ...], secrets: Mapping[str, Manifest | None]) -> list[Ref]:
    """The referenced keys that do not exist (their Secret, or the key in it)."""
    return [
        (name, key)
        for name, key in wanted
        if key not in ((secrets.get(name) or {}).get("data") or {})
    ]


def digest(wanted: tuple[Ref, ...], secrets: Mapping[str, Manifest | None]) -> str:
    """What the referenced keys hold, hashed (a missing Secret or key counts as such)."""
    hashed = hashlib.sha256()
    for name, key in wanted:
        body = secrets.get(name) or {}
        value = (body.get("data") or {}).get(key)
        salt = (body.get("metadata") or {}).get("uid", "")
        held = "-" if value is None else f"+{value}"
        hashed.update(f"{name}\0{key}\0{salt}\0{held}\n".encode())
    return hashed.hexdigest()[:32]
