"""PostgreSQL's own programs: pg_dump, pg_restore, and a throwaway server to restore into.

Passwords reach the programs through PGPASSWORD, never their command line (which any
process on the host may read). The throwaway server lives in a scratch directory, on a
Unix socket only, with durability off (it is deleted after the test); started as root,
it runs as an unprivileged user, as PostgreSQL requires.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from accounting_api.domain.backups import BackupError

DUMP_ARGS = ("--format=custom", "--compress=1", "--no-password")
SERVER_SETTINGS = {
    "listen_addresses": "",
    "fsync": "off",
    "full_page_writes": "off",
    "synchronous_commit": "off",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "max_wal_size": "4GB",
    "maintenance_work_mem": "256MB",
    "shared_buffers": "128MB",
}
"""The throwaway server holds nothing worth keeping: no durability, no replication."""
SUPERUSER = "verifier"


@dataclass(frozen=True, slots=True)
class Target:
    """A database as PostgreSQL's programs reach it: a URL without the password."""

    url: str
    password: str | None

    @classmethod
    def from_url(cls, url: str) -> Target:
        parts = urlsplit(url)
        if parts.password is None:
            return cls(url, None)
        netloc = parts.netloc.rsplit("@", 1)[1]
        if parts.username:
            netloc = f"{quote(parts.username, safe='')}@{netloc}"
        return cls(urlunsplit(parts._replace(netloc=netloc)), parts.password)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.password is not None:
            env["PGPASSWORD"] = self.password
        return env

    def with_password_url(self) -> str:
        """The URL asyncpg connects with (it reads PGUSER and PGPASSWORD too)."""
        if self.password is None:
            return self.url
        parts = urlsplit(self.url)
        user, _, host = parts.netloc.rpartition("@")
        netloc = f"{user}:{quote(self.password, safe='')}@{host}" if user else parts.netloc
        return urlunsplit(parts._replace(netloc=netloc))


def bin_dir() -> Path:
    """PG_BIN_DIR, else the newest /usr/lib/postgresql/*/bin, else pg_dump's directory."""
    if configured := os.environ.get("PG_BIN_DIR"):
        return Path(configured)
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name or 0))
    if found:
        return found[-1]
    which = shutil.which("pg_dump")
    if which is None:
        raise BackupError("PostgreSQL's programs were not found: set PG_BIN_DIR")
    return Path(which).parent


def program(name: str) -> str:
    path = bin_dir() / name
    if not path.exists():
        raise BackupError(f"{path} does not exist: PostgreSQL's programs are needed (PG_BIN_DIR)")
    return str(path)


def version(name: str = "pg_dump") -> str:
    return subprocess.run(
        [program(name), "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()


def start_dump(target: Target, snapshot: str) -> subprocess.Popen[bytes]:
    """pg_dump of the target's database in snapshot, streaming on stdout."""
    return subprocess.Popen(
        [program("pg_dump"), *DUMP_ARGS, f"--snapshot={snapshot}", f"--dbname={target.url}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=target.env(),
    )


def last_lines(text: bytes, lines: int = 5) -> str:
    return " | ".join(text.decode(errors="replace").strip().splitlines()[-lines:])


def restore(target: Target, dump: Path, *, jobs: int = 1, throwaway: bool = False) -> None:
    """pg_restore of dump into the target's (empty) database; stops at the first error.

    One job runs in a single transaction, so a failed restore writes nothing; several
    (the throwaway server) build tables and indexes in parallel. On a throwaway server
    owners and grants are left out: its roles are not production's.
    """
    args = [program("pg_restore"), "--exit-on-error", "--no-password", "--no-owner"]
    if throwaway:
        args += ["--no-acl", f"--jobs={jobs}"]
    else:
        args += ["--single-transaction", f"--use-list={_without_default_acls(dump)}"]
    done = subprocess.run(
        [*args, f"--dbname={target.url}", str(dump)],
        capture_output=True,
        env=target.env(),
        check=False,
    )
    if done.returncode != 0:
        raise BackupError(f"pg_restore failed: {last_lines(done.stderr)}")


def _without_default_acls(dump: Path) -> Path:
    """The dump's table of contents less its default privileges, which name the role that
    owned the schema where the dump was taken (only that role may set them)."""
    toc = subprocess.run(
        [program("pg_restore"), "--list", str(dump)], capture_output=True, check=False
    )
    if toc.returncode != 0:
        raise BackupError(f"pg_restore --list failed: {last_lines(toc.stderr)}")
    lines = [line for line in toc.stdout.splitlines(keepends=True) if b" DEFAULT ACL " not in line]
    path = dump.with_suffix(".list")
    path.write_bytes(b"".join(lines))
    return path


def _unprivileged() -> tuple[int, int] | None:
    """(uid, gid) to run the server as when this process is root; PostgreSQL refuses root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            return entry.pw_uid, entry.pw_gid
    raise BackupError(
        "running as root and no unprivileged user (postgres, nobody) to start a server"
    )


def _run(args: list[str], user: tuple[int, int] | None, doing: str) -> None:
    extra = {"user": user[0], "group": user[1], "extra_groups": []} if user else {}
    done = subprocess.run(args, capture_output=True, cwd="/", check=False, **extra)  # type: ignore[call-overload]
    if done.returncode != 0:
        raise BackupError(f"{doing} failed: {last_lines(done.stderr + done.stdout)}")


@contextlib.contextmanager
def throwaway_server(scratch: Path) -> Iterator[Target]:
    """A new PostgreSQL server in scratch for the duration; yields its database `books`."""
    user = _unprivileged()
    data = Path(tempfile.mkdtemp(prefix="pgdata-", dir=scratch))
    # A Unix socket path must stay under about 100 bytes, whatever the scratch path is.
    sockets = Path(tempfile.mkdtemp(prefix="ua-pg-"))
    for path in (data, sockets):
        if user:
            os.chown(path, *user)
        path.chmod(0o700)
    try:
        _run(
            [program("initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust", "--no-sync",
             "--encoding=UTF8", "--locale=C", "--no-instructions"],
            user,
            "initdb of the throwaway server",
        )  # fmt: skip
        options = " ".join(f"-c {k}='{v}'" for k, v in SERVER_SETTINGS.items())
        _run(
            [program("pg_ctl"), "-D", str(data), "-l", str(data / "server.log"), "-w",
             "-t", "120", "-o", f"{options} -c unix_socket_directories='{sockets}'", "start"],
            user,
            "start of the throwaway server",
        )  # fmt: skip
        try:
            target = Target(
                f"postgresql://{SUPERUSER}@/postgres?{urlencode({'host': sockets})}", None
            )
            _run(
                [program("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", f"--dbname={target.url}",
                 "-c", "CREATE DATABASE books"],
                None,
                "creating the database of the throwaway server",
            )  # fmt: skip
            yield Target(target.url.replace("/postgres?", "/books?"), None)
        finally:
            _run(
                [program("pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], user, "stop"
            )
    finally:
        shutil.rmtree(data, ignore_errors=True)
        shutil.rmtree(sockets, ignore_errors=True)


def database_of(url: str) -> str:
    return urlsplit(url).path.lstrip("/") or "postgres"


def host_of(url: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    return f"{parts.hostname or query.get('host', '')}:{parts.port or query.get('port', 5432)}"
