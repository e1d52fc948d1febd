"""`kubectl acp`'s command line: kubectl's options before or after the command, and a
clear error with exit code 1 when there is no cluster to talk to."""

from __future__ import annotations

from pathlib import Path

import pytest

from accounting_operator.kubectl import cli


@pytest.mark.parametrize(
    "argv",
    [
        ["-n", "books", "--context", "prod", "status", "ledger"],
        ["status", "ledger", "-n", "books", "--context", "prod"],
        ["--context", "prod", "status", "-n", "books", "ledger"],
    ],
)
def test_kubectl_options_go_before_or_after_the_command(argv: list[str]) -> None:
    given = vars(cli.parser().parse_args(argv))
    assert (given["namespace"], given["context"], given["name"]) == ("books", "prod", "ledger")
    assert "kubeconfig" not in given


def test_switchover_needs_a_target(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.parser().parse_args(["switchover", "books"])
    assert exited.value.code == 2
    assert "--to" in capsys.readouterr().err


def test_a_missing_kubeconfig_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "absent.kubeconfig"
    assert cli.main(["status", "books", "--kubeconfig", str(missing)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: no kubeconfig: {missing} does not exist")
    assert "--kubeconfig FILE or set KUBECONFIG" in err


def test_an_unknown_context_lists_the_known_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "kubeconfig"
    config.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: dev\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: dev, context: {cluster: c, user: u}}]\n"
    )
    assert cli.main(["--kubeconfig", str(config), "--context", "prod", "status", "books"]) == 1
    assert f"error: context 'prod' is not in {config} (contexts: dev)" in capsys.readouterr().err
