"""The reports part of the route table: accounting periods and the reports."""

from __future__ import annotations

from accounting_api.domain.roles import Role
from accounting_api.routes import reports
from accounting_api.routes import reports_models as rm
from accounting_api.routes.openapi import Endpoint

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "GET",
        "/v1/periods",
        reports.list_periods,
        "List the closed accounting periods, latest first",
        200,
        None,
        None,
        rm.PeriodListOut,
        tag="reports",
    ),
    Endpoint(
        "POST",
        "/v1/periods/{period}/close",
        reports.close_period,
        "Close a month (admin or owner): no entry may be dated in it afterwards",
        200,
        None,
        None,
        rm.PeriodOut,
        tag="reports",
        role=Role.ADMIN,
    ),
    Endpoint(
        "POST",
        "/v1/periods/{period}/reopen",
        reports.reopen_period,
        "Reopen the latest closed month (owner only; recorded)",
        200,
        None,
        None,
        rm.PeriodOut,
        tag="reports",
        role=Role.OWNER,
    ),
    Endpoint(
        "GET",
        "/v1/reports/trial-balance",
        reports.trial_balance,
        "Trial balance as of a date, per currency",
        200,
        None,
        rm.AsOfQuery,
        rm.TrialBalanceOut,
        tag="reports",
    ),
    Endpoint(
        "GET",
        "/v1/reports/balance-sheet",
        reports.balance_sheet,
        "Balance sheet as of a date, per currency",
        200,
        None,
        rm.AsOfQuery,
        rm.BalanceSheetOut,
        tag="reports",
    ),
    Endpoint(
        "GET",
        "/v1/reports/income-statement",
        reports.income_statement,
        "Income statement for a date range, per currency",
        200,
        None,
        rm.RangeQuery,
        rm.IncomeStatementOut,
        tag="reports",
    ),
    Endpoint(
        "GET",
        "/v1/reports/ar-aging",
        reports.ar_aging,
        "Receivables aging by customer as of a date, per currency",
        200,
        None,
        rm.AsOfQuery,
        rm.AgingOut,
        tag="reports",
    ),
)
