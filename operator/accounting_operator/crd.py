"""The AccountingPlatform CustomResourceDefinition, generated from the spec models.

`accounting-operator crd > crds/accountingplatforms.yaml` (or `python -m
accounting_operator.crd`) writes it; a unit test fails when the committed file differs.
"""

from __future__ import annotations

import sys
from typing import Any

import yaml

from accounting_operator import GROUP, KIND, MAX_NAME_LENGTH, NAME_PATTERN, PLURAL, VERSION
from accounting_operator.schema import JsonSchema, openapi_schema
from accounting_operator.spec import AccountingPlatformSpec
from accounting_operator.status import AccountingPlatformStatus

NAME_RULES = (
    {
        "rule": f"self.metadata.name.matches('{NAME_PATTERN}')",
        "message": "metadata.name must start with a letter and contain only lower-case "
        "letters, digits and '-' (it names the platform's Services)",
        "fieldPath": ".metadata.name",
    },
    {
        "rule": f"size(self.metadata.name) <= {MAX_NAME_LENGTH}",
        "message": f"metadata.name must be at most {MAX_NAME_LENGTH} characters: "
        "it prefixes the names of the platform's objects",
        "fieldPath": ".metadata.name",
    },
)

PRINTER_COLUMNS = (
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    {"name": "Version", "type": "string", "jsonPath": ".spec.version"},
    {"name": "Ready", "type": "string", "jsonPath": ".status.ready"},
    {"name": "Last backup", "type": "date", "jsonPath": ".status.backup.lastSuccessful"},
    {"name": "Last verified", "type": "date", "jsonPath": ".status.backup.lastVerified"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
)


def root_schema() -> JsonSchema:
    """The schema of the whole resource: spec, status and the rules on its name."""
    return {
        "type": "object",
        "description": "A multi-tenant accounting platform: API, worker, migrations, "
        "backups and failover, managed by accounting-operator.",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            # Declaring name lets the rules below report their errors under it.
            "metadata": {"type": "object", "properties": {"name": {"type": "string"}}},
            "spec": openapi_schema(AccountingPlatformSpec),
            "status": openapi_schema(AccountingPlatformStatus),
        },
        "x-kubernetes-validations": list(NAME_RULES),
    }


def crd() -> dict[str, Any]:
    """The CustomResourceDefinition manifest."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{PLURAL}.{GROUP}",
            "labels": {
                "app.kubernetes.io/name": "accounting-operator",
                "app.kubernetes.io/part-of": "universal-accounting",
            },
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": KIND.lower(),
                "shortNames": ["acp"],
                "categories": ["accounting"],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": list(PRINTER_COLUMNS),
                    "schema": {"openAPIV3Schema": root_schema()},
                }
            ],
        },
    }


class _Dumper(yaml.SafeDumper):
    """Writes shared sub-objects out in full: anchors would make the file hard to read."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


HEADER = "# Generated from accounting_operator.spec by `accounting-operator crd`. Do not edit.\n"


def render_yaml() -> str:
    """The CRD as the YAML committed under crds/."""
    return HEADER + yaml.dump(crd(), Dumper=_Dumper, sort_keys=False, width=100)


def main() -> int:
    sys.stdout.write(render_yaml())
    return 0


if __name__ == "__main__":
    sys.exit(main())
