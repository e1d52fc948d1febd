"""Reports (trial balance, balance sheet, income statement, AR aging) and periods.
The journal export in hledger's plain-text format, streamed."""

from __future__ import annotations

import datetime
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import pydantic
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from accounting_api.domain import fiscal, reports
from accounting_api.domain.roles import Principal
from accounting_api.routes import support
from accounting_api.routes.reports import schemas as rm
from accounting_api.services import exports as exports_service
from accounting_api.services import periods as periods_service
from accounting_api.services import report_cache, responses
from accounting_api.services import reports as reports_service

T = TypeVar("T")


def _period_param(request: Request) -> datetime.date:
    return reports.parse_period(str(request.path_params["period"]))


def period_out(period: datetime.date, closed: reports.ClosedPeriod | None) -> rm.PeriodOut:
    return rm.PeriodOut(
        period=reports.period_label(period),
        starts_on=period,
        ends_on=reports.period_end(period),
        status="closed" if closed else "open",
        closed_at=closed.closed_at if closed else None,
        closed_by=closed.closed_by if closed else None,
        closing_entry_id=closed.closing_entry_id if closed else None,
    )


async def close_period(request: Request) -> Response:
    closed = await periods_service.close_period(
        support.unit(request),
        support.principal(request),
        _period_param(request),
        today=support.today(),
        request_id=support.request_id(request),
    )
    return support.json(period_out(closed.period, closed))


async def reopen_period(request: Request) -> Response:
    period = _period_param(request)
    await periods_service.reopen_period(
        support.unit(request),
        support.principal(request),
        period,
        request_id=support.request_id(request),
    )
    return support.json(period_out(period, None))


async def list_periods(request: Request) -> Response:
    closed = await periods_service.list_periods(support.reads(request), support.principal(request))
    out = rm.PeriodListOut(
        data=[period_out(p.period, p) for p in closed],
        closed_through=closed[0].ends_on if closed else None,
    )
    return support.json(out)


def _line(balance: reports.AccountBalance) -> rm.AccountLine:
    a = balance.account
    return rm.AccountLine(
        account_id=a.id, code=a.code, name=a.name, type=a.type, amount=balance.normal
    )


def _section(section: reports.Section) -> rm.SectionOut:
    return rm.SectionOut(accounts=[_line(b) for b in section.lines], total=section.total)


def _trial_line(balance: reports.AccountBalance) -> rm.TrialBalanceLine:
    a = balance.account
    return rm.TrialBalanceLine(
        account_id=a.id,
        code=a.code,
        name=a.name,
        type=a.type,
        debit=max(balance.signed, 0),
        credit=max(-balance.signed, 0),
    )


async def _cached(
    request: Request,
    report: str,
    params: Mapping[str, object],
    render: Callable[[], Awaitable[pydantic.BaseModel]],
) -> Response:
    """The report rendered to JSON, served from the report cache while the books are unchanged."""

    async def body() -> bytes:
        return (await render()).model_dump_json(by_alias=True).encode()

    d = support.deps(request)
    cache = report_cache.ReportCache(d.redis, d.settings.report_cache_ttl_seconds)
    text = {name: str(value) for name, value in params.items()}
    principal = support.principal(request)
    content = await reports_service.cached(
        support.reads(request), cache, principal, report=report, params=text, render=body
    )
    return Response(content, media_type="application/json")


def _trial_balance_out(
    as_of: datetime.date, result: list[reports.TrialBalance]
) -> rm.TrialBalanceOut:
    currencies = [
        rm.TrialBalanceCurrency(
            currency=tb.currency,
            accounts=[_trial_line(b) for b in tb.lines],
            total_debit=tb.total_debit,
            total_credit=tb.total_credit,
        )
        for tb in result
    ]
    return rm.TrialBalanceOut(as_of=as_of, currencies=currencies)


def _balance_sheet_out(
    as_of: datetime.date, result: tuple[fiscal.FiscalYear, list[reports.BalanceSheet]]
) -> rm.BalanceSheetOut:
    year, sheets = result
    currencies = [
        rm.BalanceSheetCurrency(
            currency=s.currency,
            assets=_section(s.assets),
            liabilities=_section(s.liabilities),
            equity=_section(s.equity),
            retained_earnings=s.retained_earnings,
            current_earnings=s.current_earnings,
            total_assets=s.assets.total,
            total_liabilities_and_equity=s.total_liabilities_and_equity,
        )
        for s in sheets
    ]
    return rm.BalanceSheetOut(
        as_of=as_of,
        fiscal_year_starts_on=year.starts_on,
        fiscal_year_ends_on=year.ends_on,
        currencies=currencies,
    )


def _aging_row(row: reports.AgingRow) -> rm.AgingRowOut:
    return rm.AgingRowOut(
        customer_id=row.customer_id,
        customer_name=row.customer_name,
        current=row.buckets["current"],
        days_1_30=row.buckets["days_1_30"],
        days_31_60=row.buckets["days_31_60"],
        days_61_90=row.buckets["days_61_90"],
        days_over_90=row.buckets["days_over_90"],
        total=row.total,
    )


def _aging_out(as_of: datetime.date, result: list[reports.Aging]) -> rm.AgingOut:
    currencies = [
        rm.AgingCurrency(
            currency=a.currency,
            customers=[_aging_row(r) for r in a.customers],
            total=_aging_row(a.total),
        )
        for a in result
    ]
    return rm.AgingOut(as_of=as_of, currencies=currencies)


async def _as_of_report(
    request: Request,
    report: str,
    compute: Callable[[Any, Principal, datetime.date], Awaitable[T]],
    build: Callable[[datetime.date, T], pydantic.BaseModel],
) -> Response:
    """A report as of `as_of` (today by default): compute(db, principal, as_of), built."""
    as_of = support.query(request, rm.AsOfQuery).as_of or support.today()

    async def render() -> pydantic.BaseModel:
        result = await compute(support.reads(request), support.principal(request), as_of)
        return build(as_of, result)

    return await _cached(request, report, {"as_of": as_of}, render)


async def trial_balance(request: Request) -> Response:
    return await _as_of_report(
        request, "trial_balance", reports_service.trial_balance, _trial_balance_out
    )


async def balance_sheet(request: Request) -> Response:
    return await _as_of_report(
        request, "balance_sheet", reports_service.balance_sheet, _balance_sheet_out
    )


async def ar_aging(request: Request) -> Response:
    return await _as_of_report(request, "ar_aging", reports_service.ar_aging, _aging_out)


async def income_statement(request: Request) -> Response:
    span = support.query(request, rm.RangeQuery)

    async def render() -> rm.IncomeStatementOut:
        result = await reports_service.income_statement(
            support.reads(request), support.principal(request), span.start, span.end
        )
        currencies = [
            rm.IncomeStatementCurrency(
                currency=s.currency,
                revenue=_section(s.revenue),
                expenses=_section(s.expenses),
                net_income=s.net_income,
            )
            for s in result
        ]
        return rm.IncomeStatementOut(start=span.start, end=span.end, currencies=currencies)

    params = {"from": span.start, "to": span.end}
    return await _cached(request, "income_statement", params, render)


async def ledger_journal(request: Request) -> Response:
    principal, deps = support.principal(request), support.deps(request)
    chunks = exports_service.journal(support.db(request), principal)
    if deps.watch is not None:
        origin = support.origin(request)
        chunks = await responses.export(deps.watch, deps.db, principal, chunks, origin)
    return StreamingResponse(
        chunks,
        media_type="text/plain; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="ledger.journal"'},
    )
