"""What a backup is and what makes one good: names, the manifest, the checks, retention.

A backup is objects under the platform's prefix, named by the UTC time it started
so that keys sort by time: `ID.dump` (pg_dump's custom format), `ID.manifest.json`
(what the database held in the dump's snapshot) and, once restored, the restore test's
result: `ID.verified.json` when every check passed, `ID.verify-failed.json` otherwise
(so a listing alone tells which backups are good). The manifest is written last: a
dump without a manifest is no backup (a run that died after the upload), and it is
never listed, verified or restored.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

MANIFEST_FORMAT = "universal-accounting-backup/1"
DUMP_FORMAT = "custom"
DUMP_COMPRESSION = "gzip:1"
"""pg_dump's custom format (pg_restore can restore it in parallel and in part), gzip at
level 1: hourly backups should not compete with the books for CPU, and level 1 keeps
most of the gain on this data. zstd needs pg_dump 16."""

_ID = re.compile(r"^\d{8}T\d{9}Z$")
_SUFFIXES = (".dump", ".manifest.json", ".verified.json", ".verify-failed.json")


class BackupError(Exception):
    """A backup, restore test or restore cannot go on; the message says why."""


class NoSuchBackup(BackupError):
    """The named backup (or `latest`, `latest-verified`) does not exist."""


def new_id(now: datetime.datetime) -> str:
    """The id of a backup started at now: UTC to the millisecond, sorting by time."""
    moment = now.astimezone(datetime.UTC)
    return moment.strftime("%Y%m%dT%H%M%S") + f"{moment.microsecond // 1000:03d}Z"


def started_at(backup_id: str) -> datetime.datetime:
    moment = datetime.datetime.strptime(backup_id[:15], "%Y%m%dT%H%M%S")
    return moment.replace(microsecond=int(backup_id[15:18]) * 1000, tzinfo=datetime.UTC)


def is_id(text: str) -> bool:
    return bool(_ID.match(text))


@dataclass(frozen=True, slots=True)
class Keys:
    """The object keys of one backup."""

    prefix: str
    id: str

    def _key(self, suffix: str) -> str:
        return f"{self.prefix}/{self.id}{suffix}" if self.prefix else f"{self.id}{suffix}"

    @property
    def dump(self) -> str:
        return self._key(".dump")

    @property
    def manifest(self) -> str:
        return self._key(".manifest.json")

    def verification(self, passed: bool) -> str:
        return self._key(".verified.json" if passed else ".verify-failed.json")

    def all(self) -> list[str]:
        return [self._key(suffix) for suffix in _SUFFIXES]


def clean_prefix(prefix: str) -> str:
    return prefix.strip("/")


def split_key(prefix: str, key: str) -> tuple[str, str] | None:
    """(id, suffix) of a backup object directly under prefix, or None for other keys."""
    prefix = clean_prefix(prefix)
    head = f"{prefix}/" if prefix else ""
    if not key.startswith(head):
        return None
    name = key[len(head) :]
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and is_id(name[: -len(suffix)]):
            return name[: -len(suffix)], suffix
    return None


@dataclass(frozen=True, slots=True)
class Totals:
    """One currency's trial-balance totals, in minor units."""

    debits: int
    credits: int

    def wire(self) -> dict[str, int]:
        return {"debits": self.debits, "credits": self.credits}


@dataclass(frozen=True, slots=True)
class ChainHead:
    """The last linked event of an organization's audit chain."""

    seq: int
    hash: str

    def wire(self) -> dict[str, Any]:
        return {"seq": self.seq, "hash": self.hash}


@dataclass(frozen=True, slots=True)
class Books:
    """What a database holds, as the checks compare it."""

    schema_version: int
    tables: Mapping[str, int]
    """Rows per table."""
    trial_balances: Mapping[str, Mapping[str, Totals]]
    """Organization -> currency -> totals."""
    audit_heads: Mapping[str, ChainHead | None]
    """Organization -> its chain's last linked event (None: nothing linked yet)."""


@dataclass(frozen=True, slots=True)
class Manifest:
    """The record written next to a dump: the books in its snapshot, and the dump."""

    id: str
    key: str
    books: Books
    dump_bytes: int
    sha256: str
    started_at: datetime.datetime
    finished_at: datetime.datetime
    timings: Mapping[str, float] = field(default_factory=dict)
    versions: Mapping[str, str] = field(default_factory=dict)

    def wire(self) -> dict[str, Any]:
        books = self.books
        return {
            "format": MANIFEST_FORMAT,
            "id": self.id,
            "key": self.key,
            "dump": {
                "format": DUMP_FORMAT,
                "compression": DUMP_COMPRESSION,
                "bytes": self.dump_bytes,
                "sha256": self.sha256,
            },
            "schema_version": books.schema_version,
            "tables": dict(sorted(books.tables.items())),
            "organizations": {
                org: {
                    "trial_balance": {
                        cur: t.wire()
                        for cur, t in sorted(books.trial_balances.get(org, {}).items())
                    },
                    "audit_head": head.wire() if head else None,
                }
                for org, head in sorted(books.audit_heads.items())
            },
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "timings": dict(self.timings),
            "versions": dict(self.versions),
        }

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> Manifest:
        if data.get("format") != MANIFEST_FORMAT:
            raise BackupError(f"unknown manifest format {data.get('format')!r}")
        organizations = data["organizations"]
        books = Books(
            schema_version=int(data["schema_version"]),
            tables={str(k): int(v) for k, v in data["tables"].items()},
            trial_balances={
                org: {
                    cur: Totals(int(t["debits"]), int(t["credits"]))
                    for cur, t in body["trial_balance"].items()
                }
                for org, body in organizations.items()
            },
            audit_heads={
                org: ChainHead(int(h["seq"]), str(h["hash"])) if (h := body["audit_head"]) else None
                for org, body in organizations.items()
            },
        )
        return cls(
            id=str(data["id"]),
            key=str(data["key"]),
            books=books,
            dump_bytes=int(data["dump"]["bytes"]),
            sha256=str(data["dump"]["sha256"]),
            started_at=datetime.datetime.fromisoformat(data["started_at"]),
            finished_at=datetime.datetime.fromisoformat(data["finished_at"]),
            timings=dict(data.get("timings", {})),
            versions=dict(data.get("versions", {})),
        )


@dataclass(frozen=True, slots=True)
class Failure:
    """A check a restored database failed."""

    check: str
    message: str
    organization: str | None = None

    def __str__(self) -> str:
        where = f" (organization {self.organization})" if self.organization else ""
        return f"{self.check}{where}: {self.message}"


def check_checksum(key: str, expected: str, actual: str) -> Failure | None:
    if expected == actual:
        return None
    return Failure("checksum", f"{key} has SHA-256 {actual}, its manifest says {expected}")


def check_books(recorded: Books, restored: Books) -> list[Failure]:
    """Every way the restored books differ from those recorded in the manifest."""
    failures: list[Failure] = []
    if restored.schema_version != recorded.schema_version:
        failures.append(
            Failure(
                "schema_version",
                f"restored schema version {restored.schema_version}, "
                f"recorded {recorded.schema_version}",
            )
        )
    failures.extend(_table_failures(recorded.tables, restored.tables))
    for org in sorted(set(recorded.audit_heads) | set(restored.audit_heads)):
        failures.extend(_balance_failures(org, recorded, restored))
    return failures


def _table_failures(recorded: Mapping[str, int], restored: Mapping[str, int]) -> list[Failure]:
    return [
        Failure(
            "row_counts",
            f"table {table} has {restored.get(table, 0)} rows, recorded {recorded.get(table, 0)}",
        )
        for table in sorted(set(recorded) | set(restored))
        if recorded.get(table, 0) != restored.get(table, 0)
    ]


def _balance_failures(org: str, recorded: Books, restored: Books) -> Iterable[Failure]:
    mine = restored.trial_balances.get(org, {})
    for currency, totals in sorted(mine.items()):
        if totals.debits != totals.credits:
            yield Failure(
                "trial_balance",
                f"{currency} debits {totals.debits} != credits {totals.credits}",
                org,
            )
    if dict(mine) != dict(recorded.trial_balances.get(org, {})):
        yield Failure(
            "trial_balance",
            f"restored totals {_totals_text(mine)} differ from the recorded "
            f"{_totals_text(recorded.trial_balances.get(org, {}))}",
            org,
        )


def _totals_text(totals: Mapping[str, Totals]) -> str:
    if not totals:
        return "(none)"
    return ", ".join(f"{c} {t.debits}/{t.credits}" for c, t in sorted(totals.items()))


def check_chain_head(
    org: str, recorded: ChainHead | None, restored: ChainHead | None
) -> Failure | None:
    if recorded == restored:
        return None
    return Failure(
        "audit_chain",
        f"chain ends at {_head_text(restored)}, recorded {_head_text(recorded)}",
        org,
    )


def _head_text(head: ChainHead | None) -> str:
    return f"seq {head.seq} ({head.hash[:12]}...)" if head else "no linked event"


@dataclass(frozen=True, slots=True)
class Listed:
    """A backup as the bucket shows it."""

    id: str
    dump_bytes: int
    verified: bool | None
    """True: its restore test passed; False: it failed; None: never tested."""

    @property
    def started_at(self) -> datetime.datetime:
        return started_at(self.id)

    @property
    def verification(self) -> str:
        return {True: "passed", False: "failed", None: "unverified"}[self.verified]


def listed(prefix: str, objects: Iterable[tuple[str, int]]) -> list[Listed]:
    """The backups among a bucket's (key, size) pairs, oldest first: each dump whose
    manifest exists, with its restore test's outcome."""
    found: dict[str, dict[str, int]] = {}
    for key, size in objects:
        parts = split_key(prefix, key)
        if parts:
            found.setdefault(parts[0], {})[parts[1]] = size
    return [
        Listed(
            backup_id,
            have[".dump"],
            True if ".verified.json" in have else False if ".verify-failed.json" in have else None,
        )
        for backup_id, have in sorted(found.items())
        if ".dump" in have and ".manifest.json" in have
    ]


def orphans(
    prefix: str, objects: Iterable[tuple[str, int]], now: datetime.datetime, days: int
) -> list[str]:
    """Keys of dumps no manifest completed (a run that died after its upload), once
    older than the retention window."""
    ids: dict[str, set[str]] = {}
    for key, _ in objects:
        parts = split_key(prefix, key)
        if parts:
            ids.setdefault(parts[0], set()).add(parts[1])
    cutoff = now - datetime.timedelta(days=days)
    return sorted(
        Keys(clean_prefix(prefix), i).dump
        for i, suffixes in ids.items()
        if ".manifest.json" not in suffixes and started_at(i) < cutoff
    )


def to_delete(backups: Sequence[Listed], now: datetime.datetime, retention_days: int) -> list[str]:
    """Ids of the backups retention deletes: older than the window, but never the newest
    backup nor the newest one whose restore test passed."""
    if not backups:
        return []
    newest = max(backups, key=lambda b: b.id)
    verified = [b for b in backups if b.verified]
    keep = {newest.id} | ({max(verified, key=lambda b: b.id).id} if verified else set())
    cutoff = now - datetime.timedelta(days=retention_days)
    return sorted(b.id for b in backups if b.started_at < cutoff and b.id not in keep)


def choose(backups: Sequence[Listed], wanted: str) -> Listed:
    """The backup a restore names: an id (or key), `latest` or `latest-verified`."""
    ordered = sorted(backups, key=lambda b: b.id, reverse=True)
    if wanted == "latest":
        candidates = ordered
    elif wanted == "latest-verified":
        candidates = [b for b in ordered if b.verified]
    else:
        name = wanted.rsplit("/", 1)[-1].removesuffix(".dump").removesuffix(".manifest.json")
        candidates = [b for b in ordered if b.id == name]
    if not candidates:
        raise NoSuchBackup(f"no backup matches {wanted!r} ({len(backups)} backups listed)")
    return candidates[0]
