"""The expand/contract rule for schema migrations, checked on PostgreSQL's own parse tree.

The operator rolls a failed version back to the previous one (docs/migrations.md), which
then runs on the schema the new version migrated to: every migration must keep the
previous version working. A migration may therefore only *expand* the schema. What the
previous version could depend on is refused:

- dropping a table, view, function, type, sequence or schema;
- dropping a column, or changing its type;
- renaming a table, column, view, function, type, sequence or schema, or moving it to
  another schema;
- `SET NOT NULL` on a column, or adding a `NOT NULL` column without a default (the
  previous version's inserts do not fill it);
- the same words in the body of a `DO` block (its SQL is a string to the parser, so this
  part is a text search).

What the migration created itself it may drop or change. The *contract* step, once no
released version uses the old shape any more, is a migration that says so on a line of
its own, naming the earlier migration that expanded:

    -- contract: expands 0017_backups.sql

Pure: SQL text in, problems out (`tests/unit/test_migration_rules.py` runs it on every
migration, so `make test` enforces it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pglast
from pglast import ast
from pglast.enums import AlterTableType, ConstrType, ObjectType

MIGRATIONS = Path(__file__).resolve().parents[1] / "api" / "accounting_api" / "migrations"

CONTRACT = re.compile(r"^--\s*contract:\s*expands\s+(\d{4}_[a-z0-9_]+\.sql)\s*$", re.MULTILINE)

# Objects the previous version's SQL may name. Triggers, indexes, constraints and policies
# are not: the application never names them, so they may be dropped and renamed.
NAMED_BY_THE_APP = frozenset(
    {
        ObjectType.OBJECT_TABLE,
        ObjectType.OBJECT_COLUMN,
        ObjectType.OBJECT_ATTRIBUTE,
        ObjectType.OBJECT_VIEW,
        ObjectType.OBJECT_MATVIEW,
        ObjectType.OBJECT_FUNCTION,
        ObjectType.OBJECT_PROCEDURE,
        ObjectType.OBJECT_ROUTINE,
        ObjectType.OBJECT_TYPE,
        ObjectType.OBJECT_DOMAIN,
        ObjectType.OBJECT_SEQUENCE,
        ObjectType.OBJECT_SCHEMA,
    }
)
DESTRUCTIVE_TEXT = re.compile(
    r"\b(DROP\s+(TABLE|COLUMN|VIEW|FUNCTION|TYPE|SCHEMA)\b|RENAME\b(?!\s+CONSTRAINT)"
    r"|SET\s+NOT\s+NULL\b|ALTER\s+COLUMN\s+\w+\s+(SET\s+DATA\s+)?TYPE\b)",
    re.IGNORECASE,
)

HISTORICAL: dict[str, str] = {}
"""Migrations written before the rule that break it, with why that is acceptable. None
do: every migration up to 0017 only expands."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One statement that would break the previous version."""

    migration: str
    what: str

    def __str__(self) -> str:
        return f"{self.migration}: {self.what}"


def contract_of(sql: str) -> str | None:
    """The earlier migration this one is the contract step of, if it says so."""
    found = CONTRACT.search(sql)
    return found[1] if found else None


def _name(node: Any) -> str:
    if isinstance(node, ast.RangeVar):
        return str(node.relname)
    if isinstance(node, ast.String):
        return str(node.sval)
    if isinstance(node, tuple | list):
        return ".".join(_name(part) for part in node)
    if isinstance(node, ast.ObjectWithArgs):
        return _name(node.objname)
    if isinstance(node, ast.TypeName):
        return _name(node.names)
    return str(node)


def _adds_required_column(column: ast.ColumnDef) -> bool:
    kinds = {c.contype for c in column.constraints or ()}
    filled = {ConstrType.CONSTR_DEFAULT, ConstrType.CONSTR_IDENTITY, ConstrType.CONSTR_GENERATED}
    return ConstrType.CONSTR_NOTNULL in kinds and not kinds & filled


def _alter_table(stmt: ast.AlterTableStmt) -> Iterator[str]:
    table = _name(stmt.relation)
    for cmd in stmt.cmds or ():
        subtype = cmd.subtype
        if subtype == AlterTableType.AT_DropColumn:
            yield f"drops column {table}.{cmd.name}"
        elif subtype == AlterTableType.AT_AlterColumnType:
            yield f"changes the type of column {table}.{cmd.name}"
        elif subtype == AlterTableType.AT_SetNotNull:
            yield f"sets NOT NULL on column {table}.{cmd.name}"
        elif (
            subtype == AlterTableType.AT_AddColumn
            and isinstance(cmd.def_, ast.ColumnDef)
            and _adds_required_column(cmd.def_)
        ):
            yield f"adds column {table}.{cmd.def_.colname} NOT NULL without a default"


def _do_block(stmt: ast.DoStmt) -> Iterator[str]:
    for arg in stmt.args or ():
        if arg.defname == "as":
            found = DESTRUCTIVE_TEXT.search(_name(arg.arg))
            if found:
                yield f"a DO block says {found[0]!r}"


def _created(stmt: Any) -> str | None:
    """The table, view or function a statement creates, if it creates one."""
    if isinstance(stmt, ast.CreateStmt):
        return _name(stmt.relation)
    if isinstance(stmt, ast.ViewStmt):
        return _name(stmt.view)
    if isinstance(stmt, ast.CreateTableAsStmt) and stmt.into is not None:
        return _name(stmt.into.rel)
    if isinstance(stmt, ast.CreateFunctionStmt) and not stmt.replace:
        return _name(stmt.funcname)
    return None


def _problems(stmt: Any, created: set[str]) -> Iterator[str]:
    """What in one statement breaks the previous version; `created` are the objects
    this migration created before it (its own to change)."""
    new = _created(stmt)
    if new is not None:
        created.add(new)
    elif isinstance(stmt, ast.AlterTableStmt) and _name(stmt.relation) not in created:
        yield from _alter_table(stmt)
    elif isinstance(stmt, ast.DropStmt) and stmt.removeType in NAMED_BY_THE_APP:
        for target in stmt.objects or ():
            if _name(target) not in created:
                kind = stmt.removeType.name.removeprefix("OBJECT_").lower()
                yield f"drops {kind} {_name(target)}"
    elif isinstance(stmt, ast.RenameStmt) and stmt.renameType in NAMED_BY_THE_APP:
        kind = stmt.renameType.name.removeprefix("OBJECT_").lower()
        old = _name(stmt.relation) if stmt.relation else _name(stmt.object)
        what = f"{old}.{stmt.subname}" if stmt.subname else old
        yield f"renames {kind} {what} to {stmt.newname}"
    elif isinstance(stmt, ast.AlterObjectSchemaStmt):
        yield f"moves {_name(stmt.relation or stmt.object)} to schema {stmt.newschema}"
    elif isinstance(stmt, ast.DoStmt):
        yield from _do_block(stmt)


def check(name: str, sql: str, earlier: set[str]) -> list[Problem]:
    """The statements of migration `name` that would break the previous version. A
    contract step (see `CONTRACT`) naming one of the `earlier` migrations may contract;
    naming anything else is itself a problem."""
    contracts = contract_of(sql)
    if contracts is not None:
        if contracts in earlier:
            return []
        return [Problem(name, f"contract step of {contracts}, which is not an earlier migration")]
    if name in HISTORICAL:
        return []
    created: set[str] = set()
    return [
        Problem(name, what)
        for raw in pglast.parse_sql(sql)
        for what in _problems(raw.stmt, created)
    ]


def check_all(directory: Path = MIGRATIONS) -> list[Problem]:
    """Every migration in `directory`, each against those before it."""
    problems: list[Problem] = []
    earlier: set[str] = set()
    for path in sorted(directory.glob("[0-9][0-9][0-9][0-9]_*.sql")):
        problems += check(path.name, path.read_text(encoding="utf-8"), earlier)
        earlier.add(path.name)
    return problems
