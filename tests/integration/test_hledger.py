"""The journal export cross-checked by the real hledger (installed by hack/services.sh).

A realistic book is built through the API and exported; hledger must read it in its
strict mode (every transaction balanced, every account and commodity declared, dates
in order) and find, per account and currency, exactly the API's trial balance, today
and on earlier dates (inside a closed month, and after it).
"""

from __future__ import annotations

import datetime
import json
import pathlib
import shutil
import subprocess
from decimal import Decimal

import asyncpg
import httpx
import pytest

from accounting_api.domain import money
from tests.integration.books import Balances, build_book, trial_balance
from tests.integration.helpers import Tenant

EXPORT = "/v1/exports/ledger.journal"


@pytest.fixture(scope="module")
async def book(client: httpx.AsyncClient) -> Tenant:
    return await build_book(client)


@pytest.fixture(scope="module")
async def journal(
    client: httpx.AsyncClient, book: Tenant, tmp_path_factory: pytest.TempPathFactory
) -> pathlib.Path:
    response = await client.get(EXPORT, headers=book.auth)
    assert response.status_code == 200, response.text
    path = tmp_path_factory.mktemp("hledger") / "ledger.journal"
    path.write_text(response.text, encoding="utf-8")
    return path


def hledger(journal: pathlib.Path, *args: str) -> str:
    found = shutil.which("hledger")
    assert found, "hledger is not installed: run hack/services.sh install"
    done = subprocess.run(
        [found, "-f", str(journal), *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def minor_units(amount: dict[str, object]) -> int:
    quantity = amount["aquantity"]
    assert isinstance(quantity, dict)
    exact = Decimal(quantity["decimalMantissa"]).scaleb(-quantity["decimalPlaces"])
    minor = exact.scaleb(money.exponent(str(amount["acommodity"])))
    assert minor == minor.to_integral_value(), amount
    return int(minor)


def hledger_balances(journal: pathlib.Path, *args: str) -> Balances:
    rows, _total = json.loads(hledger(journal, "balance", "--flat", "-O", "json", *args))
    found: Balances = {}
    for name, _display, _indent, amounts in rows:
        for amount in amounts:
            if minor := minor_units(amount):
                found.setdefault(name, {})[amount["acommodity"]] = minor
    return found


def test_hledger_reads_the_export_in_strict_mode(journal: pathlib.Path) -> None:
    hledger(journal, "check", "--strict", "ordereddates", "uniqueleafnames")


async def test_hledger_reads_every_entry_and_its_description(
    journal: pathlib.Path, book: Tenant, owner_conn: asyncpg.Connection
) -> None:
    entries = await owner_conn.fetch(
        "SELECT description FROM journal_entries WHERE organization_id = $1", book.org_id
    )
    read = json.loads(hledger(journal, "print", "-O", "json"))
    assert len(read) == len(entries) >= 15
    assert {t["tstatus"] for t in read} == {"Unmarked"}
    descriptions = {t["tdescription"] for t in read}
    assert {"(unclosed", "* starred, sale", "! fee line two", "(FX) in"} <= descriptions


@pytest.mark.parametrize(
    "as_of",
    [
        datetime.date(2026, 1, 10),  # inside the closed month
        datetime.date(2026, 2, 5),  # after it: closing balances plus the postings since
        datetime.datetime.now(datetime.UTC).date(),
    ],
)
async def test_hledger_balances_equal_the_trial_balance(
    client: httpx.AsyncClient, book: Tenant, journal: pathlib.Path, as_of: datetime.date
) -> None:
    api = await trial_balance(client, book, as_of)
    end = (as_of + datetime.timedelta(days=1)).isoformat()  # hledger's -e is exclusive
    assert hledger_balances(journal, "-e", end) == api
    assert {currency for lines in api.values() for currency in lines} <= {
        "USD",
        "EUR",
        "JPY",
        "BHD",
    }
