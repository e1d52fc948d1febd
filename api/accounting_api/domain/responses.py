"""Automatic security responses, the pure part: the thresholds of the deployment guide's
security monitor, where each count lives, and what a count past its threshold leads to.

Three counts, each a sliding window:
- failed sign-ins of the whole platform (every organization, every address): past the
  threshold the token endpoint's rate limit is halved until the count falls back under;
- calls of one organization in the last minute: past the threshold its requests are
  refused (429) until the oldest of them leaves the minute;
- bytes one organization exported in the last hour: past the threshold each further
  export needs a token issued in the last few minutes (a fresh sign-in).

Each count and its marks share one hash tag, so each check is one command on one Redis
Cluster slot."""

from __future__ import annotations

from dataclasses import dataclass

from accounting_api.domain import errors


@dataclass(frozen=True, slots=True)
class Thresholds:
    platform_failed_signins: int = 5
    """Failed sign-ins across the platform allowed in the window (0: not watched)."""
    platform_window: float = 900
    """Seconds the platform's failed sign-ins count for."""
    org_calls: int = 1000
    """Requests of one organization allowed per minute (0: not watched)."""
    org_window: float = 60
    export_bytes: int = 10_000_000
    """Bytes of exports of one organization allowed per hour (0: not watched)."""
    export_window: float = 3600
    step_up: float = 300
    """Past the export threshold: how recent a token must be to export again."""


PLATFORM_FAILURES = "sec:{platform}:f"
"""The platform's failed sign-ins: one sorted set of failure times."""
PLATFORM_ALARM = "sec:{platform}:alarm"
"""Present while the platform's failed sign-ins are past the threshold."""


@dataclass(frozen=True, slots=True)
class OrgKeys:
    calls: str
    throttled: str
    """Set by the first refused call of a window: one security event per window."""
    exports: str
    exfiltration: str
    """Set by the export that crossed the threshold: one security event per window."""


def org_keys(organization_id: str) -> OrgKeys:
    tag = f"sec:{{o:{organization_id}}}"
    return OrgKeys(f"{tag}:c", f"{tag}:ct", f"{tag}:x", f"{tag}:xt")


def halved(maximum: int) -> int:
    """The token endpoint's limit while the platform's failed sign-ins are too many."""
    return max(maximum // 2, 1)


@dataclass(frozen=True, slots=True)
class Calls:
    """One organization's call, counted: allowed, or refused for `retry_after` seconds
    (`first`: the window's first refusal, the one that is recorded)."""

    count: int
    retry_after: float = 0.0
    first: bool = False

    @property
    def allowed(self) -> bool:
        return self.retry_after <= 0


@dataclass(frozen=True, slots=True)
class Exported:
    """An organization's exports of the last hour, in bytes (`first`: this export's
    bytes crossed the threshold, the one crossing that is recorded)."""

    total: int
    first: bool = False


def check_step_up(thresholds: Thresholds, total: int, issued_at: int, now: float) -> None:
    """Refuse an export past the organization's export threshold unless the caller's
    token was issued within the step-up period (a fresh sign-in)."""
    if not thresholds.export_bytes or total <= thresholds.export_bytes:
        return
    if now - issued_at <= thresholds.step_up:
        return
    raise errors.ReauthenticationRequired(
        f"this organization exported more than {thresholds.export_bytes} bytes in the last"
        f" hour: sign in again (POST /v1/auth/token) and export with a token at most"
        f" {round(thresholds.step_up)} s old"
    )
