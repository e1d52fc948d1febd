"""`accounting-operator`: run (the operator), crd (print the CRD), render (print a
platform's children), reference (the spec's Markdown reference), selftest (the chart's
`helm test`: CRD served, operator healthy)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from accounting_operator import crd, reference, render
from accounting_operator.settings import Settings, SettingsError
from accounting_operator.spec import AccountingPlatformSpec


def _render(args: argparse.Namespace) -> int:
    """Print the manifests the operator would apply for one AccountingPlatform file."""
    resource: dict[str, Any] = yaml.safe_load(Path(args.file).read_text())
    metadata = resource.get("metadata", {})
    platform = render.Platform(
        name=metadata["name"],
        namespace=args.namespace or metadata.get("namespace", "default"),
        # Objects printed for review have no live owner; the uid is a placeholder.
        uid=metadata.get("uid", "00000000-0000-0000-0000-000000000000"),
        spec=AccountingPlatformSpec.model_validate(resource.get("spec", {})),
        service_monitor_crd=args.service_monitor,
        prometheus_rule_crd=args.prometheus_rule,
    )
    sys.stdout.write(yaml.safe_dump_all(render.render(platform), sort_keys=False))
    return 0


def _run(args: argparse.Namespace) -> int:
    """Run the operator until SIGINT/SIGTERM."""
    # Imported here: the other commands need neither kopf nor a cluster.
    from accounting_operator import runtime  # noqa: PLC0415

    overrides: dict[str, Any] = {}
    if args.all_namespaces:
        overrides["namespaces"] = ()
    elif args.namespace:
        overrides["namespaces"] = tuple(args.namespace)
    runtime.run(Settings.from_env(**overrides))
    return 0


def _selftest(args: argparse.Namespace) -> int:
    """`helm test`: the CRD is served (API discovery, which every authenticated identity may
    read) and the operator answers its health endpoint; exit 1 naming what failed."""
    import asyncio  # noqa: PLC0415
    import urllib.request  # noqa: PLC0415

    from accounting_operator import GROUP, PLURAL, VERSION  # noqa: PLC0415
    from accounting_operator.k8s.client import Client  # noqa: PLC0415

    async def served() -> bool:
        client = Client.connect(workers=1, timeout=args.timeout)
        try:
            return await client.serves(f"{GROUP}/{VERSION}", PLURAL)
        finally:
            client.close()

    if not asyncio.run(served()):
        print(
            f"selftest: the API server does not serve {PLURAL}.{GROUP}/{VERSION}", file=sys.stderr
        )
        return 1
    print(f"selftest: {PLURAL}.{GROUP}/{VERSION} is served")
    if args.health_url:
        with urllib.request.urlopen(args.health_url, timeout=args.timeout) as answer:  # noqa: S310
            status = answer.status
        if status != 200:
            print(f"selftest: {args.health_url} answered {status}", file=sys.stderr)
            return 1
        print(f"selftest: the operator is healthy ({args.health_url})")
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="accounting-operator", description=__doc__)
    sub = root.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the operator (settings: ACCOUNTING_OPERATOR_* variables)")
    scope = run.add_mutually_exclusive_group()
    scope.add_argument(
        "--namespace",
        "-n",
        action="append",
        help="manage AccountingPlatforms in this namespace (repeatable)",
    )
    scope.add_argument(
        "--all-namespaces", "-A", action="store_true", help="manage them in every namespace"
    )
    sub.add_parser("crd", help="print the AccountingPlatform CRD (YAML)")
    show = sub.add_parser("render", help="print the objects rendered for a platform file")
    show.add_argument("file", help="an AccountingPlatform manifest (YAML)")
    show.add_argument("--namespace", help="override metadata.namespace")
    show.add_argument(
        "--service-monitor", action="store_true", help="render as if the ServiceMonitor CRD exists"
    )
    show.add_argument(
        "--prometheus-rule", action="store_true", help="render as if the PrometheusRule CRD exists"
    )
    reference = sub.add_parser("reference", help="print the spec's reference page (Markdown)")
    reference.add_argument("--root", default=".", help="the checkout whose examples/ to quote")
    selftest = sub.add_parser("selftest", help="check the CRD is served and the operator healthy")
    selftest.add_argument("--health-url", help="the operator's /healthz (through its Service)")
    selftest.add_argument("--timeout", type=float, default=10.0)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "crd":
            return crd.main()
        if args.command == "reference":
            sys.stdout.write(reference.render(Path(args.root)))
            return 0
        if args.command == "selftest":
            return _selftest(args)
        return _render(args)
    except (OSError, KeyError, yaml.YAMLError, ValueError, SettingsError) as exc:
        print(f"accounting-operator {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
