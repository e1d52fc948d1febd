"""Shared fixtures. Integration tests need the local services (`hack/services.sh start`)."""

from __future__ import annotations

import os

# The local services' defaults, so a developer can run pytest after `make services-up`.
os.environ.setdefault(
    "MIGRATION_DATABASE_URL",
    "postgresql://ua_admin:ua_admin_local_only@127.0.0.1:55432/accounting",
)
os.environ.setdefault(
    "DATABASE_URL", "postgresql://ua_api:ua_api_local_only@127.0.0.1:55432/accounting"
)
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:56379/0")
os.environ.setdefault(  # hack/services.sh's local-only key ring
    "WEBHOOK_SECRET_KEYS", "local-only:dWEtbG9jYWwtb25seS1ub3QtZm9yLXByb2R1Y3Rpb24="
)
os.environ.setdefault("REDIS_CLUSTER_TEST_URL", "redis://127.0.0.1:16400")
