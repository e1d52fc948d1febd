"""The ServiceAccount the platform's pods run as (no token is mounted)."""

from __future__ import annotations

from accounting_operator.render import meta
from accounting_operator.render.platform import Manifest, Platform


def service_account(platform: Platform) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": meta.metadata(platform, platform.name, meta.PLATFORM),
        "automountServiceAccountToken": False,
    }
