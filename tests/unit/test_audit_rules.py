"""The audit chain's pure rules and the hledger formatting, table-driven."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import hashlib
import json

import pytest

from accounting_api.db import audit as audit_db
from accounting_api.domain import audit, journal_export, ledger
from accounting_api.domain.ledger import Side

WHEN = datetime.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=datetime.UTC)


def chained(prev: str, seq: int) -> audit.Event:
    change = audit.Change("invoice.finalized", "invoice", "inv_1", "a" * 64, None)
    content = audit.content_sha256(
        id=f"aud_{seq}",
        organization_id="org_1",
        actor_user_id="user_1",
        request_id="req",
        occurred_at=WHEN,
        change=change,
        before_sha256=None,
    )
    return audit.Event(
        f"aud_{seq}", "org_1", seq, "user_1", change.action, change.object_type,
        change.object_id, None, "req", None, change.after_sha256, WHEN, prev,
        audit.link_hash(prev, content),
    )  # fmt: skip


def test_a_correct_link_passes() -> None:
    first = chained(audit.GENESIS, 1)
    assert audit.check_link(first, expected_seq=1, prev_hash=audit.GENESIS) is None
    assert first.hash is not None
    second = chained(first.hash, 2)
    assert audit.check_link(second, expected_seq=2, prev_hash=first.hash) is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"seq": 3}, "sequence gap: expected seq 1, found 3"),
        ({"prev_hash": "f" * 64}, "previous hash does not match the preceding event's hash"),
        ({"action": "invoice.voided"}, "hash does not match the event's content"),
        ({"occurred_at": WHEN + datetime.timedelta(microseconds=1)}, "hash does not match"),
    ],
)
def test_a_changed_event_is_named_with_its_reason(change: dict[str, object], reason: str) -> None:
    event = dataclasses.replace(chained(audit.GENESIS, 1), **change)  # type: ignore[arg-type]
    broken = audit.check_link(event, expected_seq=1, prev_hash=audit.GENESIS)
    assert broken is not None
    assert broken.id == "aud_1"
    assert broken.reason.startswith(reason)


def test_an_unlinked_event_is_not_a_link() -> None:
    event = dataclasses.replace(chained(audit.GENESIS, 1), seq=None, prev_hash=None, hash=None)
    broken = audit.check_link(event, expected_seq=1, prev_hash=audit.GENESIS)
    assert broken is not None
    assert broken.reason == "event is not linked"


def test_content_is_hashed_as_postgresql_json_build_object_prints_it() -> None:
    # audit_content_sha256 in 0005_audit.sql hashes json_build_object(...)::text.
    change = audit.Change("invoice.finalized", "invoice", "inv_1", None, None)
    expected = (
        '{"action" : "invoice.finalized", "actor_user_id" : null, "after_sha256" : null, '
        '"before_sha256" : null, "id" : "aud_1", "object_id" : "inv_1", '
        '"object_type" : "invoice", "occurred_at" : "2026-01-02T03:04:05.678901Z", '
        '"organization_id" : "org_1", "request_id" : "r\u00e9\\n", "target_id" : null}'
    )
    content = audit.content_sha256(
        id="aud_1",
        organization_id="org_1",
        actor_user_id=None,
        request_id="r\u00e9\n",
        occurred_at=WHEN,
        change=change,
        before_sha256=None,
    )
    assert content == hashlib.sha256(expected.encode()).hexdigest()


def test_a_use_cases_change_names_its_action_object_and_state() -> None:
    entry = _Entry("je_2", datetime.date(2026, 1, 31), Side.DEBIT)
    change = audit.changed("journal_entry", "reversal_posted", entry, target_id="je_1")
    assert (change.action, change.object_type, change.object_id, change.target_id) == (
        "journal_entry.reversal_posted", "journal_entry", "je_2", "je_1",
    )  # fmt: skip
    fields = {"id": "je_2", "on": "2026-01-31", "side": "debit"}
    assert change.after_sha256 == audit.state_sha256(fields)
    assert audit.changed("journal_entry", "created", entry, target_id="je_2").target_id is None
    later = dataclasses.replace(entry, on=datetime.date(2026, 2, 1))
    assert audit.changed("journal_entry", "created", later).after_sha256 != change.after_sha256


@dataclasses.dataclass(frozen=True, slots=True)
class _Entry:
    id: str
    on: datetime.date
    side: Side


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [
        (12345, "USD", "123.45 USD"),
        (-5, "USD", "-0.05 USD"),
        (500, "JPY", "500 JPY"),
        (-1001, "BHD", "-1.001 BHD"),
    ],
)
def test_amounts_use_the_currency_exponent(minor: int, currency: str, text: str) -> None:
    assert journal_export.amount(minor, currency) == text


def test_free_text_cannot_break_the_format() -> None:
    account = journal_export.Account("liability", "2000", "A:b  c;d\n", "USD")
    assert journal_export.account_name(account) == "liabilities:2000 A-b c,d"


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ("Sale", "Sale"),
        ("(refund", "() (refund"),
        ("(INV-7) paid", "() (INV-7) paid"),
        ("* cleared", "() * cleared"),
        ("  ! pending", "() ! pending"),
        ("Refund (partial", "Refund (partial"),
    ],
)
def test_descriptions_are_never_read_as_a_code_or_a_status(text: str, written: str) -> None:
    assert journal_export.description(text) == written


def test_each_account_and_currency_is_declared_once() -> None:
    cash = journal_export.Account("asset", "1000", "Cash", "USD")
    sales = journal_export.Account("revenue", "4000", "Sales", "EUR")
    rent = journal_export.Account("expense", "5000", "Rent", "USD")
    declared = journal_export.Declarations()
    assert declared.new([cash, sales]) == (
        "commodity EUR\ncommodity USD\naccount assets:1000 Cash\naccount revenues:4000 Sales\n\n"
    )
    assert declared.new([sales, cash]) == ""
    assert declared.new([rent, cash]) == "account expenses:5000 Rent\n\n"


class _Kind(enum.IntEnum):
    ONE = 1


@dataclasses.dataclass(frozen=True, slots=True)
class _Odd:
    kind: _Kind
    amounts: tuple[int, ...]
    labels: dict[str, object]
    ratio: float


STATES: list[object] = [
    _Entry("je_1", datetime.date(2026, 1, 31), Side.CREDIT),
    ledger.JournalEntry(
        "je_2",
        datetime.date(2026, 2, 1),
        "rent",
        (
            ledger.Posting("acct_1", Side.DEBIT, 5, "USD"),
            ledger.Posting("acct_2", Side.CREDIT, 5, "USD"),
        ),
        None,
        None,
        datetime.datetime(2026, 2, 1, 12, 30, tzinfo=datetime.UTC),
    ),
    _Odd(_Kind.ONE, (1, 2), {"a": [_Entry("x", datetime.date(2026, 1, 1), Side.DEBIT)]}, 0.5),
    _Odd(_Kind.ONE, (), {"a": {1: "keys that are not text"}}, 1.0),
    {"id": "cus_1", "when": datetime.date(2026, 3, 1)},
]


@pytest.mark.parametrize("state", STATES, ids=lambda s: type(s).__name__)
def test_a_state_is_referenced_as_its_json_round_trip(state: object) -> None:
    # The reference of a state must not change with how it is computed: the audit chain
    # compares states recorded by earlier versions.
    plain = state
    if dataclasses.is_dataclass(state) and not isinstance(state, type):
        plain = dataclasses.asdict(state)
    expected = json.loads(json.dumps(plain, default=str))
    assert audit.changed("x", "created", state, object_id="o").after_sha256 == (
        audit.state_sha256(expected)
    )


def record_args(**changes: object) -> list[object]:
    args: dict[str, object] = {
        "organization_id": "org_06h3vxb45rfx41e3ef2mya3pvg",
        "actor_user_id": None,
        "request_id": "req-audit:1.a",
        "occurred_at": WHEN,
        "ids": ["aud_1", "aud_2"],
        "actions": ["journal_entry.created", "journal_entry.reversed"],
        "object_types": ["journal_entry", "journal_entry"],
        "object_ids": ["je_1", "je_2"],
        "target_ids": [None, "je_1"],
        "after": ["a" * 64, None],
    }
    return list((args | changes).values())


def test_audit_events_whose_values_need_no_quoting_are_written_into_the_statement() -> None:
    sql = audit_db.record_literal(record_args())
    assert sql == (
        "SELECT record_audit_events('org_06h3vxb45rfx41e3ef2mya3pvg', NULL, 'req-audit:1.a',"
        " '2026-01-02T03:04:05.678901+00:00'::timestamptz, '{\"aud_1\",\"aud_2\"}'::text[],"
        ' \'{"journal_entry.created","journal_entry.reversed"}\'::text[],'
        ' \'{"journal_entry","journal_entry"}\'::text[], \'{"je_1","je_2"}\'::text[],'
        " '{NULL,\"je_1\"}'::text[], '{\"" + "a" * 64 + "\",NULL}'::text[])"
    )


@pytest.mark.parametrize(
    "value",
    ["it's", 'a"b', "a\\b", "a,b", "{a}", "a b", "a\x00b", "a;b", "é", "a\nb", "$$"],
)
def test_a_value_that_would_need_quoting_keeps_the_statement_with_parameters(value: str) -> None:
    assert audit_db.record_literal(record_args(object_ids=["je_1", value])) is None
    assert audit_db.record_literal(record_args(request_id=value)) is None


def test_a_value_of_another_type_keeps_the_statement_with_parameters() -> None:
    assert audit_db.record_literal(record_args(request_id=1)) is None
    assert audit_db.record_literal(record_args(object_ids=["je_1", b"je_2"])) is None
    assert audit_db.record_literal(record_args(occurred_at=WHEN.replace(tzinfo=None))) is None
