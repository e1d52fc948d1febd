"""`kubectl acp report`: one tar.gz to attach to a support request, as `kubectl cnpg
report` makes: the platform, the status screen, every child (pods and ReplicaSets too),
the Events about them, the Secrets of the namespace by name only, and the operator's
recent log lines where it runs in a pod.

No Secret value enters the bundle: Secrets are listed in the API server's Table form
without their objects (`includeObject=None`: name, type, key count, age), so their data
and annotations are never even downloaded. A part that cannot be read (no rights, the
operator not in a pod) is named in README.txt with the reason; the rest is still written.
"""

from __future__ import annotations

import functools
import io
import json
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from accounting_operator.k8s import errors, resources
from accounting_operator.k8s.client import Request
from accounting_operator.k8s.resources import Resource
from accounting_operator.kubectl import screen
from accounting_operator.kubectl.session import Session

Manifest = dict[str, Any]
POD = Resource("v1", "Pod", "pods")
REPLICA_SET = Resource("apps/v1", "ReplicaSet", "replicasets")
KINDS = (*resources.CHILDREN, *resources.MONITORING, REPLICA_SET, POD)
OPERATOR_SELECTOR = "app.kubernetes.io/name=accounting-operator"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"


@dataclass
class Bundle:
    """The files of the archive, by path under its root directory."""

    files: dict[str, bytes] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, path: str, content: str) -> None:
        self.files[path] = content.encode()

    def add_yaml(self, path: str, data: object) -> None:
        self.add(path, yaml.safe_dump(data, sort_keys=False, width=120))

    def attempt(self, what: str, gather: Callable[[], None]) -> None:
        """Gather one part; a failure becomes a note instead of ending the report."""
        try:
            gather()
        except errors.KubeError as error:
            self.notes.append(f"{what}: not gathered: {error}")

    def write(self, out: Path, root: str) -> None:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
            for path, content in sorted(self.files.items()):
                info = tarfile.TarInfo(f"{root}/{path}")
                info.size, info.mode = len(content), 0o600
                archive.addfile(info, io.BytesIO(content))
        out.touch(mode=0o600)  # it names the namespace's objects: for its reader only
        out.write_bytes(buffer.getvalue())


def tidy(item: Manifest, resource: Resource) -> Manifest:
    """A listed object as a manifest, without managedFields (noise for a reader)."""
    meta = {k: v for k, v in (item.get("metadata") or {}).items() if k != "managedFields"}
    return {"apiVersion": resource.api_version, "kind": resource.kind, **item, "metadata": meta}


def secret_references(spec: object) -> Iterator[str]:
    """Names of the Secrets a spec refers to (every `...SecretRef: {name}`)."""
    if isinstance(spec, dict):
        for key, value in spec.items():
            if key.lower().endswith("secretref") and isinstance(value, dict) and "name" in value:
                yield str(value["name"])
            else:
                yield from secret_references(value)
    elif isinstance(spec, list):
        for value in spec:
            yield from secret_references(value)


def about_platform(event: Manifest, name: str) -> bool:
    """Whether an Event is about the platform or a child (children are NAME-...)."""
    involved = str((event.get("involvedObject") or {}).get("name", ""))
    return involved == name or involved.startswith(f"{name}-")


class Reporter:
    """Gathers one platform's bundle through a session."""

    def __init__(self, session: Session, platform: Manifest, tail_lines: int) -> None:
        self.session = session
        self.platform = platform
        self.name = str(platform["metadata"]["name"])
        self.tail_lines = tail_lines
        self.bundle = Bundle()

    def gather(self, now: datetime, operator_namespace: str | None) -> Bundle:
        self.bundle.add_yaml("platform.yaml", tidy(self.platform, resources.PLATFORM))
        events: list[Manifest] = []
        self.bundle.attempt("the platform's Events", lambda: events.extend(self.events()))
        own = [e for e in events if (e.get("involvedObject") or {}).get("name") == self.name]
        self.bundle.add("status.txt", screen.render(self.platform, own, now))
        for kind in KINDS:
            self.bundle.attempt(kind.plural, functools.partial(self.children, kind))
        self.bundle.attempt("Secrets", self.secrets)
        self.bundle.attempt("the operator's pods", lambda: self.operator_logs(operator_namespace))
        return self.bundle

    def events(self) -> list[Manifest]:
        path = resources.EVENT.path(self.session.namespace)
        found = self.session.items("listing Events", path, [])
        mine = screen.oldest_first(e for e in found if about_platform(e, self.name))
        self.bundle.add_yaml("events.yaml", [tidy(e, resources.EVENT) for e in mine])
        return mine

    def children(self, kind: Resource) -> None:
        selector = f"app.kubernetes.io/instance={self.name},app.kubernetes.io/name=accounting-api"
        path = kind.path(self.session.namespace)
        try:
            found = self.session.items(
                f"listing {kind.plural}", path, [("labelSelector", selector)]
            )
        except errors.NotFoundError:
            return  # a kind the cluster does not serve (ServiceMonitor without its CRD, ...)
        for item in found:
            manifest = tidy(item, kind)
            self.bundle.add_yaml(f"children/{kind.kind}/{item['metadata']['name']}.yaml", manifest)

    def secrets(self) -> None:
        """Names only, from the Table form: no object, so no data, is sent."""
        path = resources.SECRET.path(self.session.namespace)
        query = [("includeObject", "None")]
        raw = self.session.raw(Request("listing Secrets", "GET", path, query, accept=TABLE))
        rows = json.loads(raw).get("rows") or []
        present = sorted(str(r["cells"][0]) for r in rows)
        referenced = sorted(set(secret_references(self.platform.get("spec") or {})))
        self.bundle.add_yaml(
            "secrets.yaml",
            {
                "note": "names only; no Secret value or annotation was read",
                "referencedBySpec": [{"name": n, "present": n in present} for n in referenced],
                "inNamespace": present,
            },
        )

    def operator_logs(self, namespace: str | None) -> None:
        path = POD.path(namespace) if namespace else POD.cluster_path()
        query = [("labelSelector", OPERATOR_SELECTOR)]
        pods = self.session.items("listing the operator's pods", path, query)
        if not pods:
            where = f"namespace {namespace}" if namespace else "any namespace"
            self.bundle.notes.append(f"no operator pod ({OPERATOR_SELECTOR}) in {where}")
        for pod in pods:
            meta = pod["metadata"]
            for container in (pod.get("spec") or {}).get("containers") or []:
                what = f"logs of {meta['namespace']}/{meta['name']} {container['name']}"
                self.bundle.attempt(what, functools.partial(self.log, meta, container["name"]))

    def log(self, pod: Manifest, container: str) -> None:
        path = POD.path(pod["namespace"], pod["name"], "log")
        query = [("container", container), ("tailLines", str(self.tail_lines))]
        what = f"reading the log of {pod['name']}"
        text = self.session.raw(Request(what, "GET", path, query, accept="*/*"))
        self.bundle.files[f"operator/{pod['namespace']}_{pod['name']}_{container}.log"] = text


def readme(bundle: Bundle, platform: Manifest, now: datetime) -> str:
    meta = platform["metadata"]
    lines = [
        f"Support bundle of AccountingPlatform {meta.get('namespace')}/{meta['name']}",
        f"made by kubectl acp report at {now.strftime('%Y-%m-%dT%H:%M:%SZ')}",
        "",
        "platform.yaml    the resource (spec and status)",
        "status.txt       kubectl acp status, as it read then",
        "children/        every child the operator made, with pods and ReplicaSets",
        "events.yaml      Events about the platform and its children",
        "secrets.yaml     Secrets by name only (no value was read)",
        f"operator/        the operator's recent log lines (pods labelled {OPERATOR_SELECTOR})",
    ]
    if bundle.notes:
        lines += ["", "Not gathered:", *(f"- {n}" for n in bundle.notes)]
    return "\n".join(lines) + "\n"


def make(
    session: Session,
    platform: Manifest,
    out: Path,
    now: datetime,
    *,
    tail_lines: int = 1000,
    operator_namespace: str | None = None,
) -> Bundle:
    """Gather the bundle and write it to `out`."""
    bundle = Reporter(session, platform, tail_lines).gather(now, operator_namespace)
    bundle.add("README.txt", readme(bundle, platform, now))
    bundle.write(out, out.name.removesuffix(".tar.gz"))
    return bundle
