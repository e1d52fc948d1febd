"""Every shell block in the docs says who runs it, and what it says holds: a kind some test
runs, CI's own `make test`, or a reason it cannot run here (tests/docs_commands.py)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests import docs_commands

BLOCKS = docs_commands.blocks()


def test_the_docs_have_shell_blocks_to_check() -> None:
    assert len(BLOCKS) >= 20
    assert {block.path.name for block in BLOCKS} >= {"README.md", "api.md", "operations.md"}


@pytest.mark.parametrize("block", BLOCKS, ids=[block.where for block in BLOCKS])
def test_every_block_says_who_runs_it(block: docs_commands.Block) -> None:
    assert block.kind in docs_commands.KINDS, (
        f"{block.where}: put `<!-- docs-test: KIND -->` on the line above the block, KIND one "
        f"of {sorted(docs_commands.KINDS)} (tests/docs_commands.py says what each means)"
    )
    if block.kind == "not-run":
        assert len(block.argument) > 20, f"{block.where}: not-run needs the reason it cannot run"
    elif block.argument:
        assert (block.kind, block.argument[:9]) == ("cluster", "replicas="), block.where


@pytest.mark.parametrize("block", BLOCKS, ids=[block.where for block in BLOCKS])
def test_every_block_is_valid_shell(block: docs_commands.Block) -> None:
    shell = shutil.which("bash" if block.lang == "console" else block.lang)
    assert shell is not None
    assert block.source.strip(), f"{block.where}: no command"
    done = subprocess.run(
        [shell, "-n"], input=block.source, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"{block.where}: {done.stderr}"


def test_ci_blocks_hold_nothing_but_what_ci_runs() -> None:
    for block in docs_commands.blocks("ci"):
        for command in block.commands():
            assert docs_commands.CI_COMMAND.match(command), f"{block.where}: {command!r}"


def test_what_a_running_block_leaves_to_ci_is_what_ci_runs() -> None:
    """`make test` is .ci/run's command, and every part of it named in the docs is a test
    target of the Makefile or a path under tests/ (which `make test`'s pytest collects)."""
    assert (docs_commands.ROOT / ".ci" / "run").read_text().strip().endswith("\nmake test")
    makefile = (docs_commands.ROOT / "Makefile").read_text()
    left = [
        (block, command)
        for block in BLOCKS
        if block.kind != "not-run"
        for command in block.commands()
        if docs_commands.CI_COMMAND.match(command)
    ]
    assert left, "no block names `make test` any more: is the README's front door gone?"
    for block, command in left:
        words = command.split("#")[0].split()
        if words[0] == "make":
            assert f"\n{words[1]}:" in makefile, f"{block.where}: no target {words[1]}"
        else:
            path = next(word for word in words if word.startswith("tests/"))
            assert (docs_commands.ROOT / path.split("::")[0]).exists(), f"{block.where}: {path}"


def test_a_block_without_a_marker_is_found(tmp_path: Path) -> None:
    page = docs_commands.ROOT / "docs" / "kubectl-plugin.md"
    marked = docs_commands.parse(page)
    assert all(block.kind is not None for block in marked)
    copy = tmp_path / "page.md"
    copy.write_text(re.sub(r"<!-- docs-test: .* -->\n", "", page.read_text()))
    assert [block.kind for block in docs_commands.parse(copy)] == [None] * len(marked)
