"""The platforms' children as the operator last saw them, without a LIST per reconcile.

kopf keeps an index of every managed child from its watch streams (`handlers`), keyed
by (namespace, platform name), and it starts no handler before the index has been
filled from the initial lists. Reading it costs nothing, but it trails the API server by
a watch event. So the responses of the operator's own writes are laid over it until the
watch catches up (client-go's MutationCache): a reconcile that follows a write at once
sees that write, and does not make it again.

An overlaid object gives way to the indexed one as soon as the index holds the same or a
newer resourceVersion, and in any case after `ttl` seconds, so a change the operator
missed is never hidden for long (the drift check re-reads everything anyway).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from accounting_operator import diff
from accounting_operator.render.platform import Manifest

Owner = tuple[str, str]
"""(namespace, platform name): how the index is keyed."""

Index = Mapping[Owner, Iterable[Manifest]]


def owner_key(manifest: Manifest) -> Owner | None:
    """The platform a child belongs to, by its instance label."""
    metadata = manifest.get("metadata") or {}
    instance = (metadata.get("labels") or {}).get("app.kubernetes.io/instance")
    namespace = metadata.get("namespace")
    return (namespace, instance) if namespace and instance else None


_WITH_STATUS = frozenset({"Deployment", "Job"})
"""The kinds whose status a reconcile reads (rollout, migration)."""
_WITH_MANAGERS = frozenset({"Deployment"})
"""The kinds whose field managers a reconcile reads (the replicas handover to the HPA)."""


def slim(manifest: Manifest) -> Manifest:
    """What a reconcile reads of a child, for the index: the status and managedFields of
    kinds whose are never read are left out (most of an object's size, and an HPA's
    status changes every few seconds)."""
    kind = manifest.get("kind")
    out = {k: v for k, v in manifest.items() if k != "status" or kind in _WITH_STATUS}
    if kind not in _WITH_MANAGERS:
        metadata = manifest.get("metadata") or {}
        out["metadata"] = {k: v for k, v in metadata.items() if k != "managedFields"}
    return out


def version(manifest: Manifest) -> int:
    """The resourceVersion as a number (etcd's revision); -1 if it is not one."""
    raw = (manifest.get("metadata") or {}).get("resourceVersion") or ""
    return int(raw) if raw.isdigit() else -1


@dataclass(frozen=True, slots=True)
class _Written:
    manifest: Manifest | None
    """The write's response; None for a deletion."""
    version: int
    expires: float


@dataclass
class Children:
    """The index with the operator's recent writes on top."""

    index: Index
    ttl: float = 10.0
    clock: Callable[[], float] = time.monotonic
    _written: dict[Owner, dict[diff.Key, _Written]] = field(default_factory=dict)

    def read(self, owner: Owner) -> diff.Live:
        """The children of one platform, by (kind, name)."""
        live = {diff.key(m): m for m in self.index.get(owner) or ()}
        overlay = self._written.get(owner)
        if not overlay:
            return live
        now = self.clock()
        for key, written in list(overlay.items()):
            indexed = live.get(key)
            if now >= written.expires or (indexed and version(indexed) >= written.version):
                del overlay[key]  # the watch caught up, or it is too late to know
            elif written.manifest is None:
                live.pop(key, None)
            else:
                live[key] = written.manifest
        if not overlay:
            del self._written[owner]
        return live

    def wrote(self, manifest: Manifest) -> None:
        """Remember a write's response until the index has it."""
        self._remember(manifest, manifest, version(manifest))

    def deleted(self, manifest: Manifest) -> None:
        """Remember a deletion until the index drops the object."""
        self._remember(manifest, None, version(manifest) + 1)

    def _remember(self, child: Manifest, written: Manifest | None, at: int) -> None:
        owner = owner_key(child)
        if owner is None or at < 0:
            return
        entry = _Written(written, at, self.clock() + self.ttl)
        self._written.setdefault(owner, {})[diff.key(child)] = entry
