"""Every migration keeps the previous version working (expand, then contract later), so
the operator can roll a failed version back: what the check refuses and accepts."""

from __future__ import annotations

import pytest

from tests import migration_rules as rules

EARLIER = {"0017_backups.sql"}

REFUSED = [
    ("drop-table", "DROP TABLE invoices;", "drops table invoices"),
    ("drop-tables", "DROP TABLE IF EXISTS a, b CASCADE;", "drops table a"),
    ("drop-view", "DROP VIEW trial_balance;", "drops view trial_balance"),
    ("drop-function", "DROP FUNCTION emit_event(text, text, jsonb);", "drops function emit_event"),
    ("drop-type", "DROP TYPE invoice_status;", "drops type invoice_status"),
    ("drop-column", "ALTER TABLE invoices DROP COLUMN memo;", "drops column invoices.memo"),
    ("drop-column-among-others",
     "ALTER TABLE invoices ADD COLUMN note text, DROP COLUMN IF EXISTS memo;",
     "drops column invoices.memo"),
    ("rename-table", "ALTER TABLE invoices RENAME TO bills;", "renames table invoices to bills"),
    ("rename-column", "ALTER TABLE invoices RENAME COLUMN memo TO note;",
     "renames column invoices.memo to note"),
    ("rename-column-short", "ALTER TABLE invoices RENAME memo TO note;",
     "renames column invoices.memo to note"),
    ("rename-view", "ALTER VIEW trial_balance RENAME TO tb;", "renames view trial_balance"),
    ("rename-function", "ALTER FUNCTION emit_event(text) RENAME TO emit;",
     "renames function emit_event"),
    ("move-schema", "ALTER TABLE invoices SET SCHEMA archive;", "moves invoices to schema"),
    ("narrow-type", "ALTER TABLE postings ALTER COLUMN amount TYPE integer;",
     "changes the type of column postings.amount"),
    ("widen-type-too", "ALTER TABLE postings ALTER COLUMN amount SET DATA TYPE numeric;",
     "changes the type of column postings.amount"),
    ("set-not-null", "ALTER TABLE invoices ALTER COLUMN memo SET NOT NULL;",
     "sets NOT NULL on column invoices.memo"),
    ("required-column", "ALTER TABLE invoices ADD COLUMN memo text NOT NULL;",
     "adds column invoices.memo NOT NULL without a default"),
    ("do-block", "DO $$ BEGIN EXECUTE 'ALTER TABLE t DROP COLUMN c'; END $$;",
     "a DO block says 'DROP COLUMN'"),
    ("contract-of-nothing-earlier", "-- contract: expands 0099_later.sql\nDROP TABLE a;",
     "contract step of 0099_later.sql, which is not an earlier migration"),
]  # fmt: skip

ACCEPTED = [
    ("create-table", "CREATE TABLE notes (id text PRIMARY KEY, body text NOT NULL);"),
    ("nullable-column", "ALTER TABLE invoices ADD COLUMN memo text;"),
    ("required-column-with-default",
     "ALTER TABLE invoices ADD COLUMN amount_credited bigint NOT NULL DEFAULT 0;"),
    ("identity-column", "ALTER TABLE notes2 ADD COLUMN n bigint NOT NULL GENERATED ALWAYS AS "
     "IDENTITY;"),
    ("drop-not-null", "ALTER TABLE refunds ALTER COLUMN payment_id DROP NOT NULL;"),
    ("replace-constraint", "ALTER TABLE d DROP CONSTRAINT d_check; "
     "ALTER TABLE d ADD CONSTRAINT d_check CHECK (status IN ('a', 'b', 'c'));"),
    ("drop-trigger", "DROP TRIGGER invoices_credit_covered ON invoices;"),
    ("drop-index", "DROP INDEX invoices_by_customer;"),
    ("rename-constraint", "ALTER TABLE d RENAME CONSTRAINT a TO b;"),
    ("replace-function", "CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1';"),
    ("own-scratch-table", "CREATE TEMPORARY TABLE moves (id text); DROP TABLE moves;"),
    ("own-table-changed", "CREATE TABLE n (id text); ALTER TABLE n ALTER COLUMN id SET NOT NULL;"),
    ("do-block-rls", "DO $$ BEGIN EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', "
     "'t'); END $$;"),
    ("contract-step", "-- contract: expands 0017_backups.sql\n"
     "ALTER TABLE backups DROP COLUMN legacy_path;\nDROP TABLE backup_runs_old;"),
]  # fmt: skip


@pytest.mark.parametrize(("sql", "problem"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED])
def test_refused(sql: str, problem: str) -> None:
    found = [p.what for p in rules.check("0018_next.sql", sql, EARLIER)]
    assert any(what.startswith(problem) for what in found), found


@pytest.mark.parametrize("sql", [a[1] for a in ACCEPTED], ids=[a[0] for a in ACCEPTED])
def test_accepted(sql: str) -> None:
    assert rules.check("0018_next.sql", sql, EARLIER) == []


def test_contract_marker_must_be_a_line_of_its_own() -> None:
    assert rules.contract_of("-- contract: expands 0017_backups.sql\n") == "0017_backups.sql"
    assert rules.contract_of("SELECT 1; -- contract: expands 0017_backups.sql") is None


def test_every_migration_keeps_the_previous_version_working() -> None:
    problems = rules.check_all()
    assert problems == [], "\n".join(
        ["a migration would break the version before it (docs/migrations.md):"]
        + [str(p) for p in problems]
    )
    assert len(list(rules.MIGRATIONS.glob("[0-9]*.sql"))) >= 17  # the check saw them


def test_historical_exceptions_are_explained() -> None:
    for name, why in rules.HISTORICAL.items():
        assert (rules.MIGRATIONS / name).exists()
        assert len(why) > 40
