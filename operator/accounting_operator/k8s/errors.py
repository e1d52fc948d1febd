"""The apply layer's exceptions: every failed API call becomes one of these.

The class says what the caller should do, whatever the HTTP details were:
`RetryableError` (conflicts, 5xx, 429, timeouts, lost connections, a kind or namespace
not there yet: try again after `delay`) or `PermanentError` (the API server refused the
request as invalid or forbidden: retrying the same request cannot succeed). The handlers
map them to `kopf.TemporaryError` and `kopf.PermanentError` in one place.
"""

from __future__ import annotations

import json
from collections.abc import Mapping


class KubeError(Exception):
    """A Kubernetes API call failed while doing `what`."""

    def __init__(self, what: str, status: int, message: str) -> None:
        super().__init__(f"{what}: {message} (HTTP {status})" if status else f"{what}: {message}")
        self.what = what
        self.status = status
        self.message = message


class RetryableError(KubeError):
    """The same request may succeed later."""

    delay: float = 5.0

    def __init__(self, what: str, status: int, message: str, delay: float | None = None) -> None:
        super().__init__(what, status, message)
        if delay is not None:
            self.delay = delay


class NotFoundError(RetryableError):
    """404. Reads and deletes treat it as an answer; for a write it means the kind (a CRD)
    or the namespace is missing, which may change: retry later."""


class ConflictError(RetryableError):
    """409 on a write: someone changed the object first; re-read and retry at once."""

    delay = 1.0


class UnavailableError(RetryableError):
    """5xx, 429, a timeout or a lost connection: the API server is busy or away."""


class PermanentError(KubeError):
    """The request itself is wrong; retrying it unchanged cannot succeed."""


class RejectedError(PermanentError):
    """400 or 422: the API server or an admission check rejected the object."""


class ForbiddenError(PermanentError):
    """403: the operator's RBAC does not allow the request."""


def _message(body: bytes | str | None) -> str:
    """The `message` of a Status body, else the body itself (shortened)."""
    if not body:
        return ""
    text = body.decode(errors="replace") if isinstance(body, bytes) else body
    try:
        status = json.loads(text)
    except ValueError:
        return text[:500]
    return str(status.get("message", text[:500])) if isinstance(status, dict) else text[:500]


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    raw = (headers or {}).get("Retry-After")
    try:
        return max(float(raw), 0.5) if raw else None
    except ValueError:
        return None


def from_response(
    what: str, status: int, body: bytes | str | None, headers: Mapping[str, str] | None = None
) -> KubeError:
    """The exception for an HTTP error response."""
    message = _message(body)
    if status == 404:
        return NotFoundError(what, status, message)
    if status == 409:
        return ConflictError(what, status, message)
    if status == 403:
        return ForbiddenError(what, status, message)
    if status in {400, 422}:
        return RejectedError(what, status, message)
    # 401 (a token being rotated), 410 (expired list), 429 and 5xx pass with time.
    return UnavailableError(what, status, message, _retry_after(headers))


def unreachable(what: str, error: Exception) -> UnavailableError:
    """The exception for a request that got no response at all."""
    return UnavailableError(what, 0, f"{type(error).__name__}: {error}")
