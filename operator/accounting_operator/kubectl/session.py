"""`kubectl acp`'s connection to the cluster: the kubeconfig, context and namespace chosen
as kubectl chooses them, and blocking calls through the operator's own request function
(`k8s.client.send`), so a failure is the same `k8s.errors` exception the operator sees.

kubectl's order: `--kubeconfig`, else `KUBECONFIG`, else `~/.kube/config`; inside a pod
with none of them, the pod's ServiceAccount. `--context` picks a context (else the
current one); `-n` a namespace, else the context's, else `default`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client as k8s
from kubernetes import config as k8s_config

from accounting_operator import GROUP, KIND, PLURAL, VERSION
from accounting_operator.k8s import errors, resources
from accounting_operator.k8s.client import Request, send

Manifest = dict[str, Any]
FIELD_MANAGER = "kubectl-acp"
"""The field manager of the plugin's writes (an annotation, spec.paused)."""
MERGE = "application/merge-patch+json"
IN_CLUSTER_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")


class PluginError(Exception):
    """A failure the user can act on; its message says what to do."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where to connect, from the command line (None: kubectl's defaults)."""

    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None


def _kubeconfig_files(explicit: str | None) -> list[str]:
    if explicit:
        return [explicit]
    listed = os.environ.get("KUBECONFIG", "")
    if listed:
        return [p for p in listed.split(os.pathsep) if p]
    return [str(Path("~/.kube/config").expanduser())]


def _in_cluster(configuration: k8s.Configuration) -> str:
    """The pod's ServiceAccount; its namespace."""
    try:
        k8s_config.load_incluster_config(  # type: ignore[no-untyped-call]
            client_configuration=configuration
        )
    except k8s_config.ConfigException as error:
        raise PluginError(
            f"no kubeconfig, and the pod's ServiceAccount is unusable: {error}"
        ) from None
    return (IN_CLUSTER_TOKEN.parent / "namespace").read_text().strip() or "default"


def _load(target: Target, configuration: k8s.Configuration) -> str:
    """Fill `configuration` from the kubeconfig (or the pod); the default namespace."""
    files = [f for f in _kubeconfig_files(target.kubeconfig) if Path(f).expanduser().is_file()]
    if not files:
        unset = target.kubeconfig is None and not os.environ.get("KUBECONFIG")
        if unset and IN_CLUSTER_TOKEN.is_file() and not target.context:
            return _in_cluster(configuration)
        wanted = ", ".join(_kubeconfig_files(target.kubeconfig))
        raise PluginError(
            f"no kubeconfig: {wanted} does not exist; pass --kubeconfig FILE or set KUBECONFIG"
        )
    config_file = os.pathsep.join(files)
    try:
        contexts, current = k8s_config.list_kube_config_contexts(  # type: ignore[no-untyped-call]
            config_file
        )
    except k8s_config.ConfigException as error:
        raise PluginError(f"unusable kubeconfig {config_file}: {error}") from None
    name = target.context or (current or {}).get("name")
    chosen = next((c for c in contexts or [] if c.get("name") == name), None)
    if chosen is None:
        known = ", ".join(sorted(str(c.get("name")) for c in contexts or [])) or "none"
        raise PluginError(f"context {name!r} is not in {config_file} (contexts: {known})")
    try:
        k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=config_file,
            context=name,
            client_configuration=configuration,
            persist_config=False,
        )
    except (k8s_config.ConfigException, OSError, ValueError) as error:
        raise PluginError(f"unusable kubeconfig {config_file}: {error}") from None
    return str((chosen.get("context") or {}).get("namespace") or "default")


class Session:
    """Blocking calls to one cluster, in one namespace."""

    def __init__(self, api: k8s.ApiClient, namespace: str, timeout: float = 30.0) -> None:
        self.api = api
        self.namespace = namespace
        self.timeout = timeout

    @classmethod
    def open(cls, target: Target) -> Session:
        configuration = k8s.Configuration()
        default_namespace = _load(target, configuration)
        return cls(k8s.ApiClient(configuration), target.namespace or default_namespace)

    def close(self) -> None:
        self.api.close()  # type: ignore[no-untyped-call]

    def raw(self, request: Request) -> bytes:
        return send(self.api, request, self.timeout)

    def get(self, what: str, path: str, query: list[tuple[str, str]] | None = None) -> Any:
        raw = self.raw(Request(what, "GET", path, query or []))
        return json.loads(raw) if raw else None

    def items(self, what: str, path: str, query: list[tuple[str, str]]) -> list[Manifest]:
        """Every item of a list, page by page."""
        found: list[Manifest] = []
        token: list[tuple[str, str]] = []
        while True:
            page = self.get(what, path, [*query, ("limit", "500"), *token])
            found += page.get("items") or []
            more = (page.get("metadata") or {}).get("continue")
            if not more:
                return found
            token = [("continue", more)]

    def merge_patch(self, what: str, path: str, body: Manifest) -> Manifest:
        query = [("fieldManager", FIELD_MANAGER)]
        raw = self.raw(Request(what, "PATCH", path, query, body, MERGE))
        patched: Manifest = json.loads(raw)
        return patched

    # --- the platform ----------------------------------------------------------------

    def platform_path(self, name: str) -> str:
        return resources.PLATFORM.path(self.namespace, name)

    def serves_platforms(self) -> bool:
        """Whether the cluster serves the AccountingPlatform kind (the CRD is installed)."""
        try:
            found = self.get(f"discovering {GROUP}/{VERSION}", f"/apis/{GROUP}/{VERSION}")
        except errors.NotFoundError:
            return False
        return any(r.get("name") == PLURAL for r in found.get("resources") or [])

    def platform(self, name: str) -> Manifest:
        """The AccountingPlatform, or a PluginError saying whether it or its CRD is missing."""
        try:
            found: Manifest = self.get(
                f"reading {KIND} {self.namespace}/{name}", self.platform_path(name)
            )
        except errors.NotFoundError:
            if not self.serves_platforms():
                raise PluginError(
                    f"the cluster does not serve {KIND} ({PLURAL}.{GROUP}/{VERSION}): "
                    "the CRD is not installed; install the accounting-operator chart"
                ) from None
            raise PluginError(
                f"{KIND} {name!r} not found in namespace {self.namespace!r} "
                f"(kubectl get acp -n {self.namespace} lists them)"
            ) from None
        return found

    def events(self, kind: str, name: str) -> list[Manifest]:
        """Events about one object of the namespace."""
        selector = f"involvedObject.kind={kind},involvedObject.name={name}"
        path = resources.EVENT.path(self.namespace)
        return self.items(f"listing Events of {name}", path, [("fieldSelector", selector)])
