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


class SessionEnded(Unauthenticated):
    """The token's user changed role, password or membership, or signed out, since."""


class Forbidden(AccountingError):
    status = 403
    code = "forbidden"


class ReauthenticationRequired(Forbidden):
    """A step-up: the action needs a token issued in the last few minutes."""

    code = "reauthentication_required"


class NotFound(AccountingError):
    status = 404
    code = "not_found"


class Conflict(AccountingError):
    status = 409
    code = "conflict"


class LastOwner(Conflict):
    code = "last_owner"


class UserRemoved(Conflict):
    code = "user_removed"


class OrganizationRequired(Conflict):
    """The person is an active member of several organizations and named none; `extra`
    lists them (only after their password was verified)."""

    code = "organization_required"


class AlreadyMember(Conflict):
    code = "already_member"


class CurrentPasswordIncorrect(ValidationFailed):
    code = "current_password_incorrect"


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


class OrganizationRateLimited(RateLimited):
    """The organization made more calls in the last minute than ORG_API_CALLS_PER_MINUTE."""

    code = "organization_rate_limited"


class ServiceUnavailable(AccountingError):
    status = 503
    code = "service_unavailable"

    def __init__(self, detail: str, *, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class ResourceMissing(AccountingError):
    """The body names an object (an account, say) this organization does not have."""

    status = 422
    code = "resource_missing"


# --- users ----------------------------------------------------------------------------


class PasswordTooCommon(ValidationFailed):
    """A new password on the list of common passwords (domain/passwords.py)."""

    code = "password_too_common"


class PasswordTooPersonal(ValidationFailed):
    """A new password that contains the e-mail address's name or the organization's."""

    code = "password_too_personal"


# --- billing ------------------------------------------------------------------------


class AmountTooLarge(ValidationFailed):
    code = "amount_too_large"


class DiscountExceedsAmount(ValidationFailed):
    code = "discount_exceeds_amount"


class LineRoundsToZero(ValidationFailed):
    """Quantity x unit amount rounds to 0 though neither is 0: the line bills nothing."""

    code = "line_rounds_to_zero"


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


# --- payments -----------------------------------------------------------------------


class AppliedExceedsPayment(ValidationFailed):
    code = "applied_exceeds_payment"


class AmountExceedsAmountDue(Conflict):
    """Applying more to an invoice than it still owes (checked once it is locked)."""

    code = "amount_exceeds_amount_due"


class RefundExceedsPayment(Conflict):
    code = "refund_exceeds_payment"


class RefundReopensCreditedInvoice(Conflict):
    """Refunding a payment's application that settles what a credit note took off its
    invoice (the customer holds that as credit already)."""

    code = "refund_reopens_credited_invoice"


class InvoiceCustomerMismatch(AccountingError):
    status = 422
    code = "invoice_customer_mismatch"


# --- credit notes and customer credit -------------------------------------------------


class AmountExceedsCreditable(Conflict):
    """Crediting more of an invoice (or of one of its lines) than earlier credit notes
    left of it (checked once the invoice is locked)."""

    code = "amount_exceeds_creditable"


class InsufficientCredit(Conflict):
    code = "insufficient_credit"


class RefundExceedsCredit(Conflict):
    """Refunding more than the customer credit a credit note still holds."""

    code = "refund_exceeds_credit"


class InvoiceCredited(Conflict):
    """Voiding an invoice that credit notes corrected (they would be undone twice)."""

    code = "invoice_credited"


class InvoiceReceivableNotCleared(Conflict):
    """Voiding a written-off invoice whose payments from before the write-off were refunded
    since: reversing its entries would leave their amount in receivable."""

    code = "invoice_receivable_not_cleared"


# --- accounting periods ---------------------------------------------------------------


class PeriodClosed(Conflict):
    """A journal entry dated in a closed month (refused by the database too)."""

    code = "period_closed"


class PeriodAlreadyClosed(Conflict):
    code = "period_already_closed"


class PeriodOutOfOrder(Conflict):
    code = "period_out_of_order"


class PeriodNotClosed(Conflict):
    code = "period_not_closed"


class PeriodNotLatest(Conflict):
    code = "period_not_latest"


class FiscalYearClosed(Conflict):
    """Changing the fiscal year end while a fiscal year under the current one is closed:
    its closing entry and closed balances were made for that year end."""

    code = "fiscal_year_closed"


class FiscalYearClosingTooLarge(Conflict):
    """The fiscal year's closing entry would need more postings (of at most the maximum
    amount each) than one entry holds (migration 0023)."""

    code = "fiscal_year_closing_too_large"


class PeriodNotEnded(ValidationFailed):
    code = "period_not_ended"


# --- webhooks -------------------------------------------------------------------------


class WebhookUrlInsecure(ValidationFailed):
    """An http:// endpoint URL while only https is allowed."""

    code = "webhook_url_insecure"


class WebhookUrlMalformed(ValidationFailed):
    """An endpoint URL a delivery could not be made to: port out of range, a host name
    that is not valid, credentials in the URL, characters that are not percent-encoded."""

    code = "webhook_url_malformed"


class WebhookUrlNotPublic(ValidationFailed):
    """An endpoint URL whose host is a loopback, private or otherwise internal address."""

    code = "webhook_url_not_public"


class WebhookSecretKeysMissing(ServiceUnavailable):
    """No key ring to seal a new endpoint's signing secret with: the server's setup."""

    code = "webhook_secret_keys_missing"


class WebhookDeliveryNotFailed(Conflict):
    """Only a failed (dead-lettered) delivery is retried on request."""

    code = "webhook_delivery_not_failed"


class WebhookEndpointDisabled(Conflict):
    code = "webhook_endpoint_disabled"


# --- two-factor sign-in (docs/two-factor.md) -------------------------------------------


class TwoFactorRequired(Unauthenticated):
    """A correct password of a person with two-factor sign-in, without `otp` or
    `recovery_code`: ask for the code and send the request again with it."""

    code = "two_factor_required"


class TwoFactorCodeInvalid(Unauthenticated):
    """A sign-in's code or recovery code is wrong, already used, or out of its time."""

    code = "two_factor_code_invalid"


class TwoFactorCodeIncorrect(ValidationFailed):
    """A code given to change the caller's own second factor is wrong or already used."""

    code = "two_factor_code_incorrect"


class TwoFactorCodeMissing(ValidationFailed):
    """A change to a confirmed second factor without a current code (or recovery code)."""

    code = "two_factor_code_required"


class TwoFactorEnrolmentRequired(Forbidden):
    """A token restricted to two-factor enrolment, used for anything else."""

    code = "two_factor_enrolment_required"


class TwoFactorNotEnabled(Conflict):
    code = "two_factor_not_enabled"


class TwoFactorNotStarted(Conflict):
    """Confirming with no enrolment started (POST /v1/users/me/two-factor first)."""

    code = "two_factor_enrolment_not_started"


class TwoFactorKeysMissing(ServiceUnavailable):
    """No key ring (WEBHOOK_SECRET_KEYS) to seal or open a second factor's secret."""

    code = "two_factor_keys_missing"
