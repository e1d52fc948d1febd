"""The error hierarchy shared by every layer; the HTTP layer maps it to problem+json."""

from __future__ import annotations

from typing import Any


class AccountingError(Exception):
    """Base of every error the API reports to a client; `code` is stable."""

    status = 400
    code = "invalid_request"

    def __init__(self, detail: str, *, param: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.param = param
        self.extra: dict[str, Any] = {}
        """More members for the problem document (e.g. every field error)."""


class InvalidRequest(AccountingError):
    status = 400
    code = "invalid_request"


class InvalidJson(InvalidRequest):
    code = "invalid_json"


class ValidationFailed(AccountingError):
    status = 422
    code = "validation_error"


class Unauthenticated(AccountingError):
    status = 401
    code = "unauthenticated"


class Forbidden(AccountingError):
    status = 403
    code = "forbidden"


class NotFound(AccountingError):
    status = 404
    code = "not_found"


class Conflict(AccountingError):
    status = 409
    code = "conflict"


class AlreadyReversed(Conflict):
    code = "already_reversed"


class IdempotencyInProgress(Conflict):
    code = "idempotency_key_in_use"


class IdempotencyMismatch(AccountingError):
    status = 422
    code = "idempotency_key_reused"


class Unbalanced(AccountingError):
    status = 422
    code = "unbalanced_entry"


class CurrencyMismatch(AccountingError):
    status = 422
    code = "currency_mismatch"


class PayloadTooLarge(AccountingError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(AccountingError):
    status = 415
    code = "unsupported_media_type"


class RateLimited(AccountingError):
    status = 429
    code = "rate_limited"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class ServiceUnavailable(AccountingError):
    status = 503
    code = "service_unavailable"


class ResourceMissing(AccountingError):
    """The body names an object (an account, say) this organization does not have."""

    status = 422
    code = "resource_missing"


# --- billing ------------------------------------------------------------------------


class AmountTooLarge(ValidationFailed):
    code = "amount_too_large"


class DiscountExceedsAmount(ValidationFailed):
    code = "discount_exceeds_amount"


class InvalidAccount(AccountingError):
    """The body names an account that exists but cannot be used this way."""

    status = 422
    code = "invalid_account"


class InvoiceEmpty(AccountingError):
    status = 422
    code = "invoice_empty"


class CustomerArchived(Conflict):
    code = "customer_archived"


class InvoiceNotDraft(Conflict):
    code = "invoice_not_draft"


class InvoiceAlreadyFinalized(Conflict):
    code = "invoice_already_finalized"


class InvoiceNotFinalized(Conflict):
    code = "invoice_not_finalized"


class InvoiceAlreadyVoid(Conflict):
    code = "invoice_already_void"


class InvoiceAlreadyUncollectible(Conflict):
    code = "invoice_already_uncollectible"


class InvoicePaid(Conflict):
    code = "invoice_paid"
