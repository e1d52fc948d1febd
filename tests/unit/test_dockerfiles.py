"""Dockerfile.api and Dockerfile.operator agree with what runs them.

No Docker engine is needed: the Dockerfiles are parsed, and what a user relies on is
checked against its source of truth — the uid the operator's renderers set in runAsUser,
the console scripts in pyproject.toml (and that their CLI accepts the default command),
the ports the renderers and the Helm chart use, and a build context that holds the
package sources and nothing else."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from accounting_api import cli as api_cli
from accounting_operator import cli as operator_cli
from accounting_operator import render
from accounting_operator.render import pods
from accounting_operator.settings import Settings
from accounting_operator.spec import AccountingPlatformSpec

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "accounting-operator"
PINNED_BASE = re.compile(r"python:3\.11\.\d+-slim(-[a-z]+)?")
"""python:3.11-slim, pinned to a patch release by tag (e.g. python:3.11.15-slim-trixie)."""


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str

    def exec_form(self) -> list[str]:
        value = json.loads(self.args)
        assert isinstance(value, list), f"{self.keyword} is not in exec form: {self.args}"
        return [str(part) for part in value]

    def pairs(self) -> dict[str, str]:
        """ENV and ARG key=value pairs."""
        return dict(word.split("=", 1) for word in shlex.split(self.args) if "=" in word)


def instructions(path: Path) -> list[Instruction]:
    """The instructions of a Dockerfile, continuation lines joined, comments dropped."""
    lines = [line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    found = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, args = line.strip().partition(" ")
            found.append(Instruction(keyword.upper(), " ".join(args.split())))
    return found


def final_stage(path: Path) -> list[Instruction]:
    steps = instructions(path)
    last_from = max(i for i, step in enumerate(steps) if step.keyword == "FROM")
    return steps[last_from:]


def one(steps: list[Instruction], keyword: str) -> Instruction:
    (found,) = [step for step in steps if step.keyword == keyword]
    return found


def env(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for step in final_stage(path):
        if step.keyword == "ENV":
            out.update(step.pairs())
    return out


def exposed(path: Path) -> set[int]:
    return {int(port.split("/")[0]) for port in one(final_stage(path), "EXPOSE").args.split()}


def command(path: Path) -> list[str]:
    """What `docker run IMAGE` runs: ENTRYPOINT followed by CMD."""
    steps = final_stage(path)
    cmd = [step for step in steps if step.keyword == "CMD"]
    return one(steps, "ENTRYPOINT").exec_form() + (cmd[0].exec_form() if cmd else [])


API = ROOT / "Dockerfile.api"
OPERATOR = ROOT / "Dockerfile.operator"
DOCKERFILES = pytest.mark.parametrize("dockerfile", [API, OPERATOR], ids=["api", "operator"])


def base_images(dockerfile: Path) -> list[str]:
    steps = instructions(dockerfile)
    args: dict[str, str] = {}
    for step in steps:
        if step.keyword == "ARG":
            args.update(step.pairs())
    froms = [step.args.split()[0] for step in steps if step.keyword == "FROM"]
    return [re.sub(r"\$\{(\w+)\}", lambda m: args[m[1]], image) for image in froms]


@DOCKERFILES
def test_base_image_is_python_311_slim_pinned_by_tag(dockerfile: Path) -> None:
    bases = base_images(dockerfile)
    assert len(bases) >= 2, "multi-stage: a build stage, then a runtime stage"
    for base in bases:
        assert PINNED_BASE.fullmatch(base), f"{base} is not python:3.11.<patch>-slim"


@DOCKERFILES
def test_runs_as_the_uid_the_renderers_and_the_chart_set(dockerfile: Path) -> None:
    assert one(final_stage(dockerfile), "USER").args == f"{pods.UID}:{pods.UID}"
    chart = (CHART / "templates" / "deployment.yaml").read_text()
    assert set(re.findall(r"runAs(?:User|Group): (\d+)", chart)) == {str(pods.UID)}
    runs = [step.args for step in final_stage(dockerfile) if step.keyword == "RUN"]
    assert any(f"--uid {pods.UID} --gid {pods.UID}" in run for run in runs)


@DOCKERFILES
def test_python_settings_suit_a_read_only_root_filesystem(dockerfile: Path) -> None:
    settings = env(dockerfile)
    assert settings["PYTHONDONTWRITEBYTECODE"] == "1"
    assert settings["PYTHONUNBUFFERED"] == "1"
    assert settings["HOME"] == settings["TMPDIR"] == "/tmp"
    assert settings["PATH"].startswith("/opt/venv/bin:")


@DOCKERFILES
def test_installs_the_project_without_dev_dependencies(dockerfile: Path) -> None:
    runs = " ".join(step.args for step in instructions(dockerfile) if step.keyword == "RUN")
    assert re.search(r"pip install \.(\s|$)", runs), runs
    assert "[dev]" not in runs


@DOCKERFILES
def test_entrypoint_is_a_console_script(dockerfile: Path) -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert command(dockerfile)[0] in scripts


def rendered_containers() -> list[dict[str, Any]]:
    """Every container the operator renders for examples/minimal.yaml."""
    resource = yaml.safe_load((ROOT / "examples" / "minimal.yaml").read_text())
    platform = render.Platform(
        name=resource["metadata"]["name"],
        namespace="books",
        uid="00000000-0000-0000-0000-000000000000",
        spec=AccountingPlatformSpec.model_validate(resource["spec"]),
    )
    return [
        container
        for manifest in render.render(platform)
        if manifest["kind"] in {"Deployment", "Job"}
        for container in manifest["spec"]["template"]["spec"]["containers"]
    ]


def test_api_image_runs_what_the_renderers_run_on_their_port() -> None:
    program, *args = command(API)
    containers = rendered_containers()
    # The renderers set the arguments (serve, worker, migrate); the program is the image's.
    assert {tuple(c["command"]) for c in containers} == {(program,)}
    parsed = api_cli.parser().parse_args(args)
    assert (parsed.command, parsed.host, parsed.port) == ("serve", "0.0.0.0", pods.PORT)
    ports = {p["containerPort"] for c in containers for p in c.get("ports", [])}
    assert exposed(API) == ports == {pods.PORT, pods.METRICS_PORT}


def test_operator_image_exposes_the_ports_the_chart_probes_and_scrapes() -> None:
    program, *args = command(OPERATOR)
    chart = (CHART / "templates" / "deployment.yaml").read_text()
    assert f"command: [{program}]" in chart
    assert operator_cli.parser().parse_args(args).command == "run"
    settings = Settings()
    health_port = urlsplit(settings.liveness_endpoint).port
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert (values["healthPort"], values["metrics"]["port"]) == (
        health_port,
        settings.metrics_port,
    )
    assert exposed(OPERATOR) == {health_port, settings.metrics_port}


# --- the build context -----------------------------------------------------------------


def ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents wins."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    verdict = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        glob = pattern.lstrip("!").rstrip("/").removeprefix("**/")
        names = [*prefixes, *(p.rsplit("/", 1)[-1] for p in prefixes)]
        if any(fnmatch.fnmatch(name, glob) for name in names):
            verdict = not negated
    return verdict


def test_build_context_holds_the_sources_and_nothing_else() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    for dockerfile in (API, OPERATOR):
        for step in instructions(dockerfile):
            if step.keyword == "COPY" and not step.args.startswith("--from"):
                for source in step.args.split()[:-1]:
                    assert not ignored(source, patterns), f"{dockerfile.name} copies {source}"
    for kept in ("api/accounting_api/migrations/0001_tenancy_and_ledger.sql", "pyproject.toml"):
        assert not ignored(kept, patterns), kept
    for dropped in (".venv", ".run/pg", ".git", "tests", "api/accounting_api/__pycache__/x.pyc"):
        assert ignored(dropped, patterns), dropped


DEBIAN_POSTGRESQL = {"bookworm": 15, "trixie": 17}
"""Each Debian release's own PostgreSQL (its postgresql-NN and postgresql-client-NN
packages; packages.debian.org): the only major version its archive carries."""
TESTED_SERVER = 15
"""The PostgreSQL the tests run (hack/services.sh); pg_dump dumps its major and older."""


def test_api_image_carries_the_postgresql_programs_of_its_debian_release() -> None:
    release = base_images(API)[-1].rsplit("-", 1)[-1]
    major = DEBIAN_POSTGRESQL[release]
    runs = " ".join(step.args for step in final_stage(API) if step.keyword == "RUN")
    installed = set(re.findall(r"\bpostgresql-(?:client-)?(\d+)\b", runs))
    assert installed == {str(major)}, f"{release} has postgresql-{major} only, not {installed}"
    assert f"postgresql-{major} postgresql-client-{major}" in runs
    assert "create_main_cluster = false" in runs, "no cluster of the package's own is created"
    assert env(API)["PG_BIN_DIR"] == f"/usr/lib/postgresql/{major}/bin"
    assert major >= TESTED_SERVER


def test_api_image_installs_boto3_as_the_makefile_does() -> None:
    """boto3 is pinned apart (api/requirements-boto3.txt says why): the image and
    `make install` install the same file the same way."""
    runs = " ".join(step.args for step in instructions(API) if step.keyword == "RUN")
    makefile = (ROOT / "Makefile").read_text()
    for text in (runs, makefile):
        assert "--no-deps -r api/requirements-boto3.txt" in text
