"""The docs' API and backup commands, run as a reader would run them (tests/docs_commands.py):
the README's tour and the API page's blocks in one shell against a real API on the local
primary with its two streaming replicas, and the operations page's backup commands on the
local services. A command that fails, or a call answered with an HTTP error, fails the test
with the block's place in the docs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from accounting_api.db import migrations
from accounting_api.objectstore import Bucket
from tests import docs_commands, drill_support
from tests.integration.replica_set_support import ReplicaSet, connection

DOCS_ADDRESS = "localhost:8000"
FAIL_ON_HTTP_ERRORS = 'curl() { command curl --fail-with-body "$@"; }'
"""Every call in the docs is meant to succeed: an HTTP error status fails the block too."""


def run(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    return subprocess.run(
        ["bash", "-c", script],
        cwd=cwd,
        env={**os.environ, **env, "PATH": path},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def succeeded(done: subprocess.CompletedProcess[str]) -> str:
    said = f"exit {done.returncode}\n{done.stderr[-3000:]}\n{done.stdout[-2000:]}"
    assert done.returncode == 0, said
    return done.stdout


@pytest.fixture
async def primary_with_replicas(replica_set: ReplicaSet) -> ReplicaSet:
    async with connection(replica_set.owner_url) as conn:
        await migrations.apply(conn)
    return replica_set


def test_the_tour_and_the_api_page_work_as_written(
    primary_with_replicas: ReplicaSet, tmp_path: Path
) -> None:
    rs = primary_with_replicas
    replicas = ",".join(f"127.0.0.1:{port}" for port in rs.ports[1:])
    settings = drill_support.api_settings(rs.app_url) | {"DATABASE_REPLICAS": replicas}
    api = drill_support.ApiProcess(settings, tmp_path / "api.log")
    api.start()
    try:
        script = docs_commands.session("api", preamble=FAIL_ON_HTTP_ERRORS)
        address = f"127.0.0.1:{api.port}"
        out = succeeded(run(script.replace(DOCS_ADDRESS, address), tmp_path, {}))
    finally:
        api.stop()
    journal = (tmp_path / "books.journal").read_text()
    assert journal.count("Owner investment") == 2, "the tour's entry, then the API page's"
    assert "20000.00 USD  assets:1000 Cash" in out, "hledger's balance of both entries"


def test_the_backup_commands_of_the_operations_page_work_as_written(tmp_path: Path) -> None:
    # The page's bucket is the one `make demo` creates (hack/demo-api.sh): so is it here,
    # whether or not a test that runs the demo came first.
    Bucket("ua-demo-backups", endpoint=os.environ["BACKUP_S3_ENDPOINT"]).create()
    out = succeeded(run(docs_commands.session("services"), docs_commands.ROOT, {}))
    assert "demo/" in out, out
