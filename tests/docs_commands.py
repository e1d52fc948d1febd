"""The shell blocks of the documentation, and how the tests run them, so that the docs cannot
drift from the product (docs/development.md, "Commands in the docs").

Every ```bash, ```sh or ```console block (a transcript: its `$ ` lines are the commands) in
README.md, docs/ and the chart's README is preceded by a marker line that says who runs it:

    <!-- docs-test: api -->            tests/integration/test_docs_commands.py, against a real
                                       API on the local replica set (blocks share one shell,
                                       README first, so later blocks use the tour's $TOKEN)
    <!-- docs-test: services -->       the same file, on the local services (backups)
    <!-- docs-test: cluster -->        tests/e2e/test_docs_commands.py, on the local control
                                       plane with the operator, in namespace `books` (the
                                       kubeconfig's current namespace); `replicas=HOST,...`
                                       first turns failover on with those replicas (as in
                                       examples/production.yaml)
    <!-- docs-test: install -->        the same file, from a fresh virtualenv
    <!-- docs-test: local-cluster -->  the same file (`make cluster-up` and friends)
    <!-- docs-test: front-door -->     the same file (`make demo`, stopping after its tour)
    <!-- docs-test: ci -->             nothing but `make test` or part of it: CI runs it
    <!-- docs-test: not-run REASON --> cannot run here; the reason says why

In a block that runs, a line that is `make test` (or part of it, see CI_COMMAND) is not run
again inside the tests: tests/unit/test_docs_commands.py checks that CI runs it.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHELLS = {"bash", "sh", "console"}
"""console: a transcript, whose commands are its lines starting with `$ `."""
KINDS = {"api", "services", "cluster", "install", "local-cluster", "front-door", "ci", "not-run"}
MARKER = re.compile(r"^<!-- docs-test: (?P<kind>[a-z-]+)(?: (?P<argument>.*?))? -->$")
FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[a-z]*)$")
"""A fence, also indented in a list item (its marker then indented the same)."""
CI_COMMAND = re.compile(
    r"^(make (test|test-unit|test-integration|test-e2e)"
    r"|([A-Z_][A-Z0-9_]*=\S+ )*\.venv/bin/pytest( -\S+)* tests/\S*)(\s+#.*)?$"
)
"""`make test`, a part of it, or pytest on some of the tests `make test` runs."""


@dataclasses.dataclass(frozen=True)
class Block:
    """One fenced shell block: where it is, its marker, and its text."""

    path: Path
    line: int
    lang: str
    kind: str | None
    argument: str
    code: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    @property
    def source(self) -> str:
        """The block's shell text: a transcript's commands, without their output."""
        if self.lang != "console":
            return self.code
        return "\n".join(line[2:] for line in self.code.splitlines() if line.startswith("$ "))

    def commands(self) -> list[str]:
        """The block's command lines, continuation lines joined, comment-only lines dropped."""
        joined = re.sub(r"\\\n\s*", " ", self.source)
        lines = (line.strip() for line in joined.splitlines())
        return [line for line in lines if line and not line.startswith("#")]

    def script(self) -> str:
        """The block as run: CI's own commands replaced by a no-op (CI runs them)."""
        kept = [
            ": run by CI" if CI_COMMAND.match(line.strip()) else line
            for line in self.source.splitlines()
        ]
        return "\n".join(kept) + "\n"


def documents() -> list[Path]:
    """README first (its tour defines what later pages use), then docs/ and the chart."""
    pages = sorted((ROOT / "docs").rglob("*.md")) + sorted((ROOT / "charts").glob("*/README.md"))
    return [ROOT / "README.md", *pages]


def parse(path: Path) -> list[Block]:
    blocks: list[Block] = []
    lines = path.read_text().splitlines()
    index = 0
    while index < len(lines):
        fence = FENCE.match(lines[index])
        if fence is None:
            index += 1
            continue
        indent = fence["indent"]
        end = lines.index(f"{indent}```", index + 1)
        if fence["lang"] in SHELLS:
            marker = MARKER.match(lines[index - 1].strip()) if index else None
            blocks.append(
                Block(
                    path=path,
                    line=index + 1,
                    lang=fence["lang"],
                    kind=marker["kind"] if marker else None,
                    argument=(marker["argument"] or "") if marker else "",
                    code="\n".join(line.removeprefix(indent) for line in lines[index + 1 : end]),
                )
            )
        index = end + 1
    return blocks


def blocks(kind: str | None = None) -> list[Block]:
    """Every shell block of the docs, in reading order; only those of `kind` if given."""
    found = [block for path in documents() for block in parse(path)]
    return [block for block in found if kind is None or block.kind == kind]


def session(kind: str, preamble: str = "") -> str:
    """One bash script running every block of `kind` in order, stopping at the first failure
    with the block's place in the docs on stderr."""
    parts = ["set -euo pipefail", preamble]
    for block in blocks(kind):
        parts.append(f"echo '--- {block.where}' >&2")
        parts.append(block.script())
    return "\n".join(parts) + "\n"
