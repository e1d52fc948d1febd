"""What a renderer is given: the parsed spec plus the facts it cannot know by itself.

Renderers are pure functions of a `Platform`; anything observed in the cluster (the
active database primary after a failover, whether the Prometheus Operator's CRDs exist) is
passed in here by the caller instead of being looked up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from accounting_operator import MAX_NAME_LENGTH, NAME_PATTERN, topology
from accounting_operator.spec import AccountingPlatformSpec
from accounting_operator.status import DatabaseStatus

Manifest = dict[str, Any]
"""One Kubernetes object, as the dict that is applied."""

_NAME = re.compile(NAME_PATTERN)


class InvalidNameError(ValueError):
    """The platform's name cannot prefix its children's names."""


ROTATE_ANNOTATION = "accounting.universalaccounting.com/rotate"
"""Set on an AccountingPlatform (`kubectl acp rotate NAME` writes a fresh value): the operator
copies it into the API's and worker's pod templates, which rolls their pods. Kubernetes
cannot grant watching Secrets' metadata without their values, so a changed Secret is
announced this way (docs/secret-rotation.md)."""
ROTATED_ANNOTATION = "accounting.universalaccounting.com/rotation"
"""On the pod templates: the rotate annotation's value they were rolled for."""
SECRETS_DIGEST_ANNOTATION = "accounting.universalaccounting.com/secrets-digest"
"""On the API's and worker's pod templates with watch_secrets: a digest of the Secret keys
they read (render/secrets.py), so that a changed value rolls them."""
MAX_ROTATION_LENGTH = 63


@dataclass(frozen=True, slots=True)
class Platform:
    """One AccountingPlatform, as the renderers see it."""

    name: str
    """metadata.name; every child is named after it."""
    namespace: str
    """Namespace of the platform and of all its children."""
    uid: str
    """metadata.uid, for the children's ownerReferences (garbage collection)."""
    spec: AccountingPlatformSpec
    """The parsed, validated spec."""
    service_monitor_crd: bool = False
    """Whether the cluster serves monitoring.coreos.com/v1 ServiceMonitor."""
    prometheus_rule_crd: bool = False
    """Whether the cluster serves monitoring.coreos.com/v1 PrometheusRule."""
    database: DatabaseStatus | None = None
    """status.database: after a failover, the servers to use instead of the spec's."""
    rotation: str = ""
    """The platform's rotate annotation (ROTATE_ANNOTATION): a new value rolls the API
    and worker pods, so that they read their Secrets again."""
    secrets_digest: str = ""
    """With watch_secrets, a digest of the Secret keys the API and worker read
    (render/secrets.py); empty: not watched."""

    def __post_init__(self) -> None:
        # The CRD rejects such names already; this guards direct callers.
        if not _NAME.fullmatch(self.name) or len(self.name) > MAX_NAME_LENGTH:
            raise InvalidNameError(
                f"platform name {self.name!r} must be a DNS-1035 label of at most "
                f"{MAX_NAME_LENGTH} characters"
            )

    def child(self, suffix: str) -> str:
        """The name of a child object: NAME-suffix."""
        return f"{self.name}-{suffix}"

    @property
    def image(self) -> str:
        return f"{self.spec.image}:{self.spec.version}"

    @property
    def topology(self) -> topology.Topology:
        """The database servers, as the last failover (or else the spec) left them."""
        return topology.of(self.spec.database, self.database)
