"""An open invoice built from lines, as the credit-note rules see it (shared by their tests)."""

from __future__ import annotations

import datetime

from accounting_api.domain import billing

CREATED = datetime.datetime(2026, 2, 1, tzinfo=datetime.UTC)


def open_invoice(*lines: billing.Line) -> billing.Invoice:
    return billing.Invoice(
        "inv_x",
        "cus_x",
        "USD",
        billing.InvoiceStatus.OPEN,
        1,
        "",
        None,
        datetime.date(2026, 1, 15),
        datetime.date(2026, 2, 14),
        billing.totals([line.amounts for line in lines]),
        0,
        lines,
        (),
        CREATED,
    )
