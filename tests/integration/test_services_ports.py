"""hack/services.sh refuses to start when a port it needs is taken, and says by whom.

Each case occupies one port with a listener of this test's own process and runs the
script with every UA_* port on free ports of its own and UA_STATE_DIR in a temporary
directory, so that nothing it does can reach the services anyone else runs. Nothing starts
when a port is taken; the script is stopped afterwards all the same, in that same state,
in case it started something."""

from __future__ import annotations

import contextlib
import os
import pathlib
import socket
import subprocess
from collections.abc import Iterator

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SERVICES = ROOT / "hack" / "services.sh"
BUS = 10_000
"""Redis Cluster's bus port: its node's port plus this."""


def free_ports(count: int, *, spread: int = 1) -> list[int]:
    """`count` ports, each free along with the `spread` ports after it (none listening)."""
    found: list[int] = []
    with contextlib.ExitStack() as held:
        while len(found) < count:
            sock = held.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
            if port + BUS + spread < 65536 and all(listening_free(p) for p in run(port, spread)):
                found.append(port)
    return found


def run(port: int, spread: int) -> list[int]:
    return [port + n for n in range(spread)] + [port + BUS + n for n in range(spread)]


def listening_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


@contextlib.contextmanager
def listener() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def script(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SERVICES), command],
        env=os.environ | env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def own_name() -> str:
    return pathlib.Path("/proc/self/comm").read_text().strip()


# (command, the UA_* variable to point at the taken port, its offset from the taken port)
CASES = [
    ("start", "UA_PG_PORT", 0),
    ("start", "UA_REDIS_PORT", 0),
    ("start", "UA_REDIS_CLUSTER_PORT", 0),
    ("start", "UA_REDIS_CLUSTER_PORT", -1),  # the second node's port
    ("start", "UA_REDIS_CLUSTER_PORT", -BUS - 2),  # the third node's bus port
    ("start", "UA_S3_PORT", 0),
    ("replset-start", "UA_PG_REPLSET_PORT", -2),  # the second replica's port
]


@pytest.mark.parametrize(("command", "variable", "offset"), CASES)
def test_a_taken_port_is_named_with_its_process(
    tmp_path: pathlib.Path, command: str, variable: str, offset: int
) -> None:
    pg, redis, cluster, s3, replset = free_ports(5, spread=3)
    env = {
        "UA_STATE_DIR": str(tmp_path),
        "UA_PG_PORT": str(pg),
        "UA_REDIS_PORT": str(redis),
        "UA_REDIS_CLUSTER_PORT": str(cluster),
        "UA_S3_PORT": str(s3),
        "UA_PG_REPLSET_PORT": str(replset),
    }
    with listener() as taken:
        env[variable] = str(taken + offset)
        try:
            done = script(command, env)
        finally:
            script("stop", env)
    assert done.returncode != 0
    assert f"127.0.0.1:{taken}, which is taken by {own_name()} (pid {os.getpid()})" in done.stderr
    assert variable in done.stderr
    assert "started" not in done.stderr
    assert not (tmp_path / "pg").exists()
