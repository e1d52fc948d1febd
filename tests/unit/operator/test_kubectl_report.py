"""`kubectl acp report`'s bundle: which Secrets a spec names, which Events belong to the
platform, a part that cannot be read becomes a note, and the archive's layout."""

from __future__ import annotations

import stat
import tarfile
from pathlib import Path

import pytest

from accounting_operator.k8s import errors
from accounting_operator.kubectl import report
from tests.unit.operator import helpers


def test_every_secret_the_spec_refers_to_is_named() -> None:
    assert sorted(set(report.secret_references(helpers.FULL))) == [
        "jwt", "pg-app", "pg-backup", "pg-failover", "pg-owner", "redis", "s3", "webhook-keys",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("involved", "mine"),
    [
        ("books", True),
        ("books-api-5d8f-x2", True),
        ("books-backup-now-1", True),
        ("bookshelf", False),
        ("ledger-api", False),
    ],
)
def test_events_of_the_platform_and_its_children(involved: str, mine: bool) -> None:
    assert report.about_platform({"involvedObject": {"name": involved}}, "books") is mine


def test_a_part_that_cannot_be_read_becomes_a_note() -> None:
    bundle = report.Bundle()

    def forbidden() -> None:
        raise errors.ForbiddenError("listing pods in all namespaces", 403, "pods is forbidden")

    bundle.attempt("the operator's pods", forbidden)
    assert bundle.notes == [
        "the operator's pods: not gathered: listing pods in all namespaces: pods is forbidden "
        "(HTTP 403)"
    ]


def test_the_archive_has_one_root_directory_readable_by_its_owner_only(tmp_path: Path) -> None:
    bundle = report.Bundle()
    bundle.add_yaml("children/Deployment/books-api.yaml", {"kind": "Deployment"})
    bundle.add("README.txt", "hello\n")
    out = tmp_path / "report-acp-books-20261203T120000Z.tar.gz"
    bundle.write(out, "report-acp-books-20261203T120000Z")
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    with tarfile.open(out) as archive:
        names = archive.getnames()
        readme = archive.extractfile("report-acp-books-20261203T120000Z/README.txt")
        assert readme is not None
        assert readme.read() == b"hello\n"
    assert names == [
        "report-acp-books-20261203T120000Z/README.txt",
        "report-acp-books-20261203T120000Z/children/Deployment/books-api.yaml",
    ]
