"""`accounting-operator`: crd (print the CRD), render (print a platform's children)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from accounting_operator import crd, render
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
    )
    sys.stdout.write(yaml.safe_dump_all(render.render(platform), sort_keys=False))
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="accounting-operator", description=__doc__)
    sub = root.add_subparsers(dest="command", required=True)
    sub.add_parser("crd", help="print the AccountingPlatform CRD (YAML)")
    show = sub.add_parser("render", help="print the objects rendered for a platform file")
    show.add_argument("file", help="an AccountingPlatform manifest (YAML)")
    show.add_argument("--namespace", help="override metadata.namespace")
    show.add_argument(
        "--service-monitor", action="store_true", help="render as if the ServiceMonitor CRD exists"
    )
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.command == "crd":
            return crd.main()
        return _render(args)
    except (OSError, KeyError, yaml.YAMLError, ValueError) as exc:
        print(f"accounting-operator {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
