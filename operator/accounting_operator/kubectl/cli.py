"""`kubectl acp` (the console script `kubectl-acp`, which kubectl finds on PATH):
status, backup, rotate, switchover, pause, resume and report for one AccountingPlatform.

Exit codes: 0 done; 1 the cluster or the platform said no (no kubeconfig, no CRD, no such
platform, Forbidden, unreachable, a request the operator would refuse); 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from accounting_operator.k8s import errors
from accounting_operator.kubectl import report, requests, screen
from accounting_operator.kubectl.session import PluginError, Session, Target

Command = Callable[[Session, argparse.Namespace], int]


def now() -> datetime:
    return datetime.now(UTC)


def _status(session: Session, args: argparse.Namespace) -> int:
    platform = session.platform(args.name)
    try:
        events = session.events(str(platform["kind"]), args.name)
    except errors.ForbiddenError as error:
        print(f"warning: Events not shown: {error}", file=sys.stderr)
        events = []
    if args.output == "json":
        print(json.dumps(screen.document(platform, events), indent=2))
    else:
        sys.stdout.write(screen.render(platform, events, now()))
    return 0


def _write(session: Session, name: str, change: requests.Change) -> int:
    what = f"updating AccountingPlatform {session.namespace}/{name}"
    session.merge_patch(what, session.platform_path(name), change.patch)
    print(f"accountingplatform/{name} {change.done}")
    return 0


def _backup(session: Session, args: argparse.Namespace) -> int:
    platform = session.platform(args.name)
    change = requests.backup_now(platform, args.token or requests.backup_token(now()))
    return _write(session, args.name, change)


def _rotate(session: Session, args: argparse.Namespace) -> int:
    platform = session.platform(args.name)
    change = requests.rotate(platform, args.token or requests.backup_token(now()))
    return _write(session, args.name, change)


def _switchover(session: Session, args: argparse.Namespace) -> int:
    change = requests.switchover(session.platform(args.name), args.to)
    return _write(session, args.name, change)


def _set_paused(session: Session, name: str, pause: bool) -> int:
    change = requests.paused(session.platform(name), pause)
    if change is None:
        print(f"accountingplatform/{name} {'already paused' if pause else 'is not paused'}")
        return 0
    return _write(session, name, change)


def _pause(session: Session, args: argparse.Namespace) -> int:
    return _set_paused(session, args.name, True)


def _resume(session: Session, args: argparse.Namespace) -> int:
    return _set_paused(session, args.name, False)


def _report(session: Session, args: argparse.Namespace) -> int:
    platform = session.platform(args.name)
    at = now()
    out = Path(args.file or f"report-acp-{args.name}-{at.strftime('%Y%m%dT%H%M%SZ')}.tar.gz")
    bundle = report.make(
        session,
        platform,
        out,
        at,
        tail_lines=args.tail,
        operator_namespace=args.operator_namespace,
    )
    print(f"wrote {out} ({len(bundle.files)} files)")
    for note in bundle.notes:
        print(f"warning: {note}", file=sys.stderr)
    return 0


def _connection() -> argparse.ArgumentParser:
    """kubectl's options, taken before or after the command (unset ones stay unset)."""
    options = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    options.add_argument(
        "-n", "--namespace", help="the platform's namespace (default: the context's)"
    )
    options.add_argument(
        "--kubeconfig", help="kubeconfig file (default: KUBECONFIG, ~/.kube/config)"
    )
    options.add_argument("--context", help="kubeconfig context (default: the current one)")
    return options


def parser() -> argparse.ArgumentParser:
    connection = _connection()
    top = argparse.ArgumentParser(
        prog="kubectl acp",
        description="Operate an AccountingPlatform (short name acp).",
        parents=[connection],
    )
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, run: Command, summary: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=summary, description=summary, parents=[connection])
        sub.add_argument("name", metavar="NAME", help="the AccountingPlatform")
        sub.set_defaults(run=run)
        return sub

    status = command("status", _status, "phase, pods, database, backups, conditions, Events")
    status.add_argument("-o", "--output", choices=["text", "json"], default="text")
    backup = command("backup", _backup, "take a backup now (the backup-now annotation)")
    backup.add_argument("--token", help="the request's token (default: the current time)")
    rotate = command("rotate", _rotate, "roll the API and worker pods to read changed Secrets")
    rotate.add_argument("--token", help="the request's token (default: the current time)")
    switch = command("switchover", _switchover, "promote a replica (switchover-to annotation)")
    switch.add_argument("--to", required=True, metavar="HOST[:PORT]", help="the replica")
    command("pause", _pause, "stop the operator's writes (spec.paused: true)")
    command("resume", _resume, "hand the platform back to the operator (spec.paused: false)")
    bundle = command("report", _report, "write a support bundle (tar.gz)")
    bundle.add_argument("-f", "--file", help="the archive (default: report-acp-NAME-TIME.tar.gz)")
    bundle.add_argument("--tail", type=int, default=1000, help="operator log lines per container")
    bundle.add_argument(
        "--operator-namespace", help="where the operator runs (default: every namespace)"
    )
    return top


HINTS: tuple[tuple[type[errors.KubeError], str], ...] = (
    (errors.ForbiddenError, "your user lacks this right (try `kubectl auth can-i`)"),
    (errors.UnavailableError, "is the cluster reachable, and your credentials current?"),
)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    given = vars(args)
    target = Target(given.get("kubeconfig"), given.get("context"), given.get("namespace"))
    try:
        session = Session.open(target)
        try:
            return int(args.run(session, args))
        finally:
            session.close()
    except (PluginError, requests.RefusedError) as error:
        print(f"error: {error}", file=sys.stderr)
    except errors.KubeError as error:
        hint = next((h for kind, h in HINTS if isinstance(error, kind)), "")
        print(f"error: {error}" + (f"\n{hint}" if hint else ""), file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
