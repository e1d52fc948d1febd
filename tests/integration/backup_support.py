"""What the backup tests share: the local S3 server, books worth backing up, and
`accounting-api` run as the CronJob runs it."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from accounting_api.db import dumps
from accounting_api.objectstore import Bucket
from accounting_api.services.backups import Location
from tests.integration.helpers import Tenant, entry, post_entry, sign_up

BUCKET = "ua-test-backups"
CLI = str(Path(sys.executable).parent / "accounting-api")


def bucket(endpoint: str | None = None, **credentials: str) -> Bucket:
    return Bucket(BUCKET, endpoint=endpoint or os.environ["BACKUP_S3_ENDPOINT"], **credentials)


def new_location(endpoint: str | None = None) -> Location:
    return Location(bucket(endpoint), f"t-{secrets.token_hex(4)}")


def keys_under(location: Location) -> list[str]:
    return sorted(o.key for o in location.bucket.objects(location.prefix))


def uploads_under(location: Location) -> list[str]:
    s3 = location.bucket._s3
    answer = s3.list_multipart_uploads(Bucket=location.bucket.name, Prefix=f"{location.prefix}/")
    return [u["Key"] for u in answer.get("Uploads", [])]


@contextlib.contextmanager
def scratch_dir() -> Iterator[Path]:
    """A scratch directory the throwaway server's unprivileged user can reach (pytest's
    own temporary directories are private to root)."""
    path = Path(tempfile.mkdtemp(prefix="ua-scratch-"))
    path.chmod(0o711)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


async def books(client: httpx.AsyncClient, tenants: int = 2) -> list[Tenant]:
    """Tenants with postings in two currencies and a linked audit chain."""
    made = []
    for n in range(tenants):
        tenant = await sign_up(client, currency="USD" if n % 2 == 0 else "EUR")
        for amount in (1000, 2500, 777 + n):
            response = await post_entry(
                client, tenant, entry(tenant.accounts["1000"], tenant.accounts["3000"], amount)
            )
            assert response.status_code == 201, response.text
        verified = await client.get("/v1/audit-events/verify", headers=tenant.auth)
        assert verified.json()["valid"] is True
        made.append(tenant)
    return made


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class S3Server:
    """A versitygw of a test's own, to stop and start under a running backup."""

    data: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = dict(os.environ)
        env["ROOT_ACCESS_KEY_ID"] = os.environ["AWS_ACCESS_KEY_ID"]
        env["ROOT_SECRET_ACCESS_KEY"] = os.environ["AWS_SECRET_ACCESS_KEY"]
        self.process = subprocess.Popen(
            [os.environ["VERSITYGW_BIN"], "--port", f"127.0.0.1:{self.port}", "--quiet",
             "posix", str(self.data)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                return
            time.sleep(0.05)
        raise RuntimeError("versitygw did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@contextlib.contextmanager
def own_s3_server() -> Iterator[S3Server]:
    data = Path(tempfile.mkdtemp(prefix="ua-s3-"))
    server = S3Server(data, free_port())
    server.start()
    try:
        bucket(server.endpoint).create()
        yield server
    finally:
        server.stop()
        shutil.rmtree(data, ignore_errors=True)


@contextlib.contextmanager
def stalling_pg_dump(seconds: float) -> Iterator[Path]:
    """A PG_BIN_DIR whose pg_dump writes the real dump, then holds its output open for
    seconds: a backup caught mid-upload, to be killed or to lose its S3 server."""
    real = dumps.bin_dir() / "pg_dump"
    path = Path(tempfile.mkdtemp(prefix="ua-pgbin-"))
    script = path / "pg_dump"
    script.write_text(
        "#!/bin/sh\n"
        f'[ "$1" = --version ] && exec {real} "$@"\n'
        f'{real} "$@" || exit $?\n'
        f"exec sleep {seconds}\n"
    )
    script.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def cli_env(location: Location, database_url: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        BACKUP_S3_BUCKET=location.bucket.name,
        BACKUP_S3_PREFIX=location.prefix,
        BACKUP_DATABASE_URL=database_url,
        **extra,
    )
    return env


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def start_cli(
    *args: str, env: dict[str, str], start_new_session: bool = False
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [CLI, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=start_new_session,
    )


def dump(target: dumps.Target) -> bytes:
    """pg_dump of target as the backup command dumps (same format and compression)."""
    return subprocess.run(
        [dumps.program("pg_dump"), *dumps.DUMP_ARGS, f"--dbname={target.url}"],
        capture_output=True,
        env=target.env(),
        check=True,
    ).stdout


def wait_for(condition: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting")
