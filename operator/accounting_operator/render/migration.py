"""The migration Job (`accounting-api migrate`), one per version.

The Job is named after the version, so a new version gets a new Job and the rollout can
wait for it to succeed; re-applying the same version finds the finished Job unchanged.
`migrate` is advisory-locked and a no-op when the schema is current, so retries are safe.
A Job's pod template is immutable, so it depends on nothing but the version, the image
and the credentials: no config hash, fixed resources.
"""

from __future__ import annotations

import hashlib
import re

from accounting_operator.fieldtypes import ResourceAmounts, Resources
from accounting_operator.render import meta, pods
from accounting_operator.render.platform import Manifest, Platform

_SLUG_LENGTH = 14
RESOURCES = Resources(
    requests=ResourceAmounts(cpu="100m", memory="256Mi"),
    limits=ResourceAmounts(cpu="1", memory="1Gi"),
)


def version_slug(version: str) -> str:
    """The version as a DNS label fragment of at most 14 characters, unique per version."""
    if re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", version) and len(version) <= _SLUG_LENGTH:
        return version
    # Lossy (case, dots, length): a hash keeps v1.0 and V1.0 apart.
    cleaned = re.sub(r"[^a-z0-9]+", "-", version.lower()).strip("-")[:7].strip("-")
    digest = hashlib.sha256(version.encode()).hexdigest()[:6]
    return f"{cleaned}-{digest}" if cleaned else digest


def job_name(platform: Platform) -> str:
    return platform.child(f"migrate-{version_slug(platform.spec.version)}")


def job(platform: Platform) -> Manifest:
    database = platform.spec.database
    owner = database.migration_credentials_secret_ref or database.credentials_secret_ref
    env = pods.credentials_env(owner)
    container = pods.container(platform, "migrate", ["migrate"], env, RESOURCES)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta.metadata(platform, job_name(platform), meta.MIGRATION),
        "spec": {
            "backoffLimit": 3,
            "activeDeadlineSeconds": 600,
            "template": pods.template(
                platform,
                meta.MIGRATION,
                pods.pod_spec(platform, [container], restartPolicy="Never"),
            ),
        },
    }
