"""The chart accounts payments post to, in a payment's currency.

Receivable (1200) and bad debt (6900) are billing's (see billing_accounts). Cash (1000)
and Customer Credits (2300, a liability for what customers paid and were not yet
billed or refunded) are used under their own code when that code is free or already
in the payment's currency, and otherwise under a twin '<code>.<currency>', created on
first use like billing's twins.
"""

from __future__ import annotations

import datetime

from accounting_api.db import ledger as ledger_db
from accounting_api.db.connection import Connection
from accounting_api.domain import errors, ids, ledger, payments
from accounting_api.domain.billing import BillingAccount
from accounting_api.domain.ledger import AccountType, ChartLine
from accounting_api.services import billing_accounts

CASH = ChartLine("1000", "Cash", AccountType.ASSET)
CUSTOMER_CREDITS = ChartLine("2300", "Customer Credits", AccountType.LIABILITY)


def _pick(
    line: ChartLine, codes: list[str], found: dict[str, ledger.Account], currency: str
) -> ledger.Account | None:
    for code in codes:
        account = found.get(code)
        if account and account.currency == currency and account.type is line.type:
            return account
    return None


def _new(line: ChartLine, code: str, currency: str) -> ledger.Account:
    name = line.name if code == line.code else f"{line.name} ({currency})"
    return ledger.Account(
        ids.new_id("acct"),
        code,
        name,
        line.type,
        currency,
        ledger.NORMAL_BALANCE[line.type],
        datetime.datetime.now(datetime.UTC),
    )


async def account_for(
    conn: Connection, organization_id: str, line: ChartLine, currency: str
) -> str:
    """The account of `line` in `currency`, created under the first free code."""
    codes = _codes(line, currency)
    found = await ledger_db.accounts_by_code(conn, codes)
    for code in codes:
        chosen = _pick(line, codes, found, currency)
        if chosen is not None:
            return chosen.id
        if code not in found:
            new = [_new(line, code, currency)]
            await ledger_db.insert_accounts(conn, organization_id, new, skip_taken_codes=True)
            found = await ledger_db.accounts_by_code(conn, codes)
    chosen = _pick(line, codes, found, currency)
    if chosen is None:
        raise errors.Conflict(
            f"account {codes[-1]} is not a {line.type} account in {currency}; payments in"
            f" {currency} need it to be",
            param="currency",
        )
    return chosen.id


def _found(found: dict[str, ledger.Account], currency: str) -> payments.PostingAccounts | None:
    """The accounts, if all of them exist already in `currency`."""
    receivable = billing_accounts.pick(BillingAccount.RECEIVABLE, currency, found)
    bad_debt = billing_accounts.pick(BillingAccount.BAD_DEBT, currency, found)
    cash, credits = (_pick(line, _codes(line, currency), found, currency) for line in _LINES)
    if receivable is None or bad_debt is None or cash is None or credits is None:
        return None
    return payments.PostingAccounts(
        cash=cash.id, receivable=receivable.id, bad_debt=bad_debt.id, customer_credits=credits.id
    )


_LINES = (CASH, CUSTOMER_CREDITS)
_ROLES = (BillingAccount.RECEIVABLE, BillingAccount.BAD_DEBT)


def _codes(line: ChartLine, currency: str) -> list[str]:
    return [line.code, f"{line.code}.{currency}"]


async def posting_accounts(
    conn: Connection, organization_id: str, currency: str
) -> payments.PostingAccounts:
    codes = [c for line in _LINES for c in _codes(line, currency)]
    codes += [c for role in _ROLES for c in (role.value, role.code_in(currency))]
    found = _found(await ledger_db.accounts_by_code(conn, codes), currency)
    if found is not None:  # one query, unless a twin is still to be made
        return found
    billed = await billing_accounts.accounts_for(conn, organization_id, currency, _ROLES)
    return payments.PostingAccounts(
        cash=await account_for(conn, organization_id, CASH, currency),
        receivable=billed[BillingAccount.RECEIVABLE],
        bad_debt=billed[BillingAccount.BAD_DEBT],
        customer_credits=await account_for(conn, organization_id, CUSTOMER_CREDITS, currency),
    )
