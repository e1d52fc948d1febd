"""The chart accounts billing posts to, in an invoice's currency.

Billing uses the default chart's receivable (1200), tax payable (2100), deferred
revenue (2400), revenue (4000) and bad debt (6900) accounts when they are in the
invoice's currency; for another currency it uses (and creates on first use) their
twins coded '<code>.<currency>', e.g. '1200.EUR', as account codes are unique per
organization.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from accounting_api.db import ledger as ledger_db
from accounting_api.db.connection import Connection
from accounting_api.domain import billing, errors, ids, ledger
from accounting_api.domain.billing import BillingAccount


def pick(
    role: BillingAccount, currency: str, found: dict[str, ledger.Account]
) -> ledger.Account | None:
    for code in (role.value, role.code_in(currency)):
        account = found.get(code)
        if account and account.currency == currency and account.type is role.chart_line().type:
            return account
    return None


def _twin(role: BillingAccount, currency: str, now: datetime.datetime) -> ledger.Account:
    line = role.chart_line()
    return ledger.Account(
        ids.new_id("acct"),
        role.code_in(currency),
        f"{line.name} ({currency})",
        line.type,
        currency,
        ledger.NORMAL_BALANCE[line.type],
        now,
    )


async def accounts_for(
    conn: Connection, organization_id: str, currency: str, roles: Sequence[BillingAccount]
) -> dict[BillingAccount, str]:
    """Account ids by role, in `currency`; missing twins are created."""
    codes = [code for role in roles for code in (role.value, role.code_in(currency))]
    found = await ledger_db.accounts_by_code(conn, codes)
    missing = [role for role in roles if pick(role, currency, found) is None]
    if missing:
        now = datetime.datetime.now(datetime.UTC)
        twins = [_twin(role, currency, now) for role in missing]
        await ledger_db.insert_accounts(conn, organization_id, twins, skip_taken_codes=True)
        found = await ledger_db.accounts_by_code(conn, codes)
    chosen = {}
    for role in roles:
        account = pick(role, currency, found)
        if account is None:
            raise errors.Conflict(
                f"account {role.code_in(currency)} is not a {role.chart_line().type} account in"
                f" {currency}; billing in {currency} needs it to be",
                param="currency",
            )
        chosen[role] = account.id
    return chosen


async def posting_accounts(
    conn: Connection, organization_id: str, currency: str
) -> billing.PostingAccounts:
    roles = (
        BillingAccount.RECEIVABLE,
        BillingAccount.TAX_PAYABLE,
        BillingAccount.DEFERRED_REVENUE,
        BillingAccount.BAD_DEBT,
    )
    found = await accounts_for(conn, organization_id, currency, roles)
    return billing.PostingAccounts(*(found[role] for role in roles))


def _check_revenue(
    account: ledger.Account | None, account_id: str, currency: str, param: str
) -> None:
    if account is None:
        raise errors.ResourceMissing(f"no account {account_id}", param=param)
    if account.type is not ledger.AccountType.REVENUE:
        raise errors.InvalidAccount(
            f"account {account_id} is a {account.type} account, not a revenue account",
            param=param,
        )
    if account.currency != currency:
        raise errors.CurrencyMismatch(
            f"account {account_id} is in {account.currency}, the invoice in {currency}",
            param=param,
        )


async def revenue_accounts(
    conn: Connection,
    organization_id: str,
    currency: str,
    requested: Sequence[str | None],
    prefix: str,
) -> list[str]:
    """Each line's revenue account: the one asked for, checked, or the default (4000)."""
    named = [a for a in requested if a is not None]
    explicit = await ledger_db.accounts_by_id(conn, named) if named else {}
    default: str | None = None
    chosen = []
    for i, account_id in enumerate(requested):
        if account_id is None:
            if default is None:
                roles = (BillingAccount.REVENUE,)
                default = (await accounts_for(conn, organization_id, currency, roles))[roles[0]]
            chosen.append(default)
            continue
        param = f"{prefix.format(i)}revenue_account_id"
        _check_revenue(explicit.get(account_id), account_id, currency, param)
        chosen.append(account_id)
    return chosen
