"""The platforms' children as the operator last saw them, without a LIST per reconcile.

kopf keeps an index of every managed child from its watch streams (`handlers`), keyed
by (namespace, platform name), and it starts no handler before the index has been
filled from the initial lists. Reading it costs nothing, but it trails the API server by
a watch event. So the responses of the operator's own writes are laid over it until the
watch catches up (client-go's MutationCache): a reconcile that follows a write at once
sees that write, and does not make it again.

An overlaid object gives way to the indexed one as soon as the index holds the same or a
newer resourceVersion, and in any case after `ttl` seconds; a deletion the watch reports
drops it at once (`forget`).

kopf removes an object from the index only when its watch reports the deletion: one that
happened while a watch was re-established (after a "410 Gone", a stalled stream, an API
server restart) leaves a ghost behind. So every drift interval the operator lists each
kind once for all platforms and `audit` marks the indexed objects that list no longer
has (and that are not newer than it) as ghosts: reads skip them, and their platforms are
reconciled, which re-creates what is missing.
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


def uid(manifest: Manifest) -> str:
    return str((manifest.get("metadata") or {}).get("uid") or "")


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
    """The index with the operator's recent writes on top, ghosts left out."""

    index: Index
    ttl: float = 10.0
    clock: Callable[[], float] = time.monotonic
    _written: dict[Owner, dict[diff.Key, _Written]] = field(default_factory=dict)
    _ghosts: dict[str, tuple[str, str]] = field(default_factory=dict)
    """uid -> (kind, namespace) of the indexed objects a list showed to be gone."""

    def indexed(self, owner: Owner) -> diff.Live:
        """What the index holds of one platform (ghosts left out; should the index hold
        two objects of one name, a ghost and its successor, the newer)."""
        live: diff.Live = {}
        for manifest in self.index.get(owner) or ():
            key = diff.key(manifest)
            if uid(manifest) in self._ghosts:
                continue
            if key not in live or version(manifest) > version(live[key]):
                live[key] = manifest
        return live

    def read(self, owner: Owner) -> diff.Live:
        """The children of one platform, by (kind, name)."""
        live = self.indexed(owner)
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

    def forget(self, manifest: Manifest) -> None:
        """The watch reported the deletion of `manifest`: no write of it is laid over the
        index any more (it would hide the deletion)."""
        owner = owner_key(manifest)
        overlay = self._written.get(owner) if owner is not None else None
        if overlay is not None:
            overlay.pop(diff.key(manifest), None)

    def audit(
        self, kind: str, namespace: str | None, listed: Iterable[Manifest], listed_at: int
    ) -> set[Owner]:
        """Compare the index with a list of every managed object of `kind` in `namespace`
        (None: all) taken at resourceVersion `listed_at`: mark the ones it no longer has
        as ghosts; the platforms whose children changed that way."""
        present = {uid(m) for m in listed}
        seen: set[str] = set()
        owners: set[Owner] = set()
        for owner, manifests in self.index.items():
            if namespace is not None and owner[0] != namespace:
                continue
            for manifest in manifests:
                if manifest.get("kind") != kind:
                    continue
                seen.add(uid(manifest))
                gone = uid(manifest) not in present and version(manifest) <= listed_at
                if gone and uid(manifest) not in self._ghosts:
                    self._ghosts[uid(manifest)] = (kind, owner[0])
                    owners.add(owner)
        # Forget ghosts of this kind the index has dropped since (their deletion arrived).
        for ghost in [
            g
            for g, (k, ns) in self._ghosts.items()
            if k == kind and g not in seen and namespace in (None, ns)
        ]:
            del self._ghosts[ghost]
        return owners

    def _remember(self, child: Manifest, written: Manifest | None, at: int) -> None:
        owner = owner_key(child)
        if owner is None or at < 0:
            return
        entry = _Written(written, at, self.clock() + self.ttl)
        self._written.setdefault(owner, {})[diff.key(child)] = entry
