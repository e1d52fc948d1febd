"""accounting-operator: turns an AccountingPlatform resource into the running platform.

Layers, outermost first (import-linter keeps the direction): the CLI and kopf handlers;
the apply layer, the only code that talks to the Kubernetes API; the pure renderers
(`render`), which turn a parsed spec into manifests; the spec and status models.
"""

GROUP = "accounting.universalaccounting.com"
VERSION = "v1alpha1"
KIND = "AccountingPlatform"
PLURAL = "accountingplatforms"
API_VERSION = f"{GROUP}/{VERSION}"

# A platform's children are named NAME-<suffix>, the longest being the migration Job
# (NAME-migrate-<14 characters>); Services and Job pod labels must stay DNS-1035 labels
# of at most 63 characters.
MAX_NAME_LENGTH = 40
NAME_PATTERN = "^[a-z]([-a-z0-9]*[a-z0-9])?$"

FIELD_MANAGER = "accounting-operator"
"""Server-side apply field manager of every field the operator renders."""
HANDOVER_MANAGER = "accounting-operator-handover"
"""Holds a Deployment's replicas while they are handed over to its HPA."""
