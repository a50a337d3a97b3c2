"""`bookkeeper export database` / `import database`: the whole database moved to another
(the embedded SQLite to PostgreSQL, or back), not only its event log (ADR 0032 addendum).

`export events` / `import events` move the log, and the read models are rebuilt from it;
everything kept BESIDE the log was lost on the way: closed periods and locked VAT terms,
the Casbin policy, tenants' encrypted credentials, review rules, the documents (receipts),
tax rates and SAF-T groupings a tenant made its own, learnt names, conversations, the
sandbox books, and how far each subscriber of the log had got (so the Discord notifier,
among others, handled the whole log again). This file format carries them:

* line 1, the header: ``{"format": "bookkeeper-database", "version": 1, "schema": REV, …}``;
  the importing database must be at the same alembic revision (migrate the older one);
* one line per row of every table of `CARRIED`: ``{"table": NAME, "row": {column: value}}``
  (dates and times ISO 8601, decimals as strings, bytes base64, as msgspec writes them);
  a tracking row carries, instead of a position of the old log, the number of the file's
  events it had handled (`events`), which the importer turns into its own log's position;
* the events, one a line, exactly as `export events` writes them (checked as `import
  events` checks them: application/importing.py);
* the last line: ``{"end": {"lines": …, "rows": …, "events": …, "sha256": …}}`` — counts
  and the SHA-256 of every byte before it, so a file cut at a line break or altered is
  refused instead of taken for a smaller database.

Every table of the schema is either carried or listed in `NOT_CARRIED` with the reason
(tests/integration/test_move_database.py holds the two lists to the migrated schema, so a
new table must choose). The export reads one snapshot (as SqlEventExport); the import runs
in ONE transaction and refuses a database that already holds events or any row of a
carried tenant table (`MoveRefused`): a move goes into a new database, once; a bad line is
BadImportLine with its number, and nothing is written. Reference tables that a migration
seeds (policy, currencies, countries, tax rates, SAF-T groupings) are replaced by the
file's rows. A file holding credentials is taken only when `check_secret` opens each of
them (the same BOOKKEEPER_CREDENTIALS_KEY); the secrets are never decrypted otherwise, nor
printed.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Final

import msgspec
from sqlalchemy import (
    JSON,
    Column,
    Date,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Uuid,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from bookkeeper.adapters.credentials.sql import credentials_revision, tenant_credentials
from bookkeeper.adapters.sandbox.sql import sandbox_files, sandbox_objects
from bookkeeper.adapters.sql.conversations import conversation_messages
from bookkeeper.adapters.sql.database import _READ_ONLY, SqlDatabase
from bookkeeper.adapters.sql.event_store import _recorded, statements_for
from bookkeeper.adapters.sql.importing import SqlEventImport
from bookkeeper.adapters.sql.people import people_names
from bookkeeper.adapters.sql.saft import saft_grouping
from bookkeeper.adapters.sql.schema import (
    ExactDecimal,
    UtcDateTime,
    countries,
    currencies,
    document_purges,
    documents,
    events,
    fiscal_periods,
    tax_rates,
    tenant_settings,
    tracking,
)
from bookkeeper.adapters.sql.session import storage_error
from bookkeeper.application.errors import ApplicationError
from bookkeeper.application.importing import (
    MAX_LINE_BYTES,
    BadImportLine,
    ImportReport,
    import_events,
)
from bookkeeper.application.ports import RecordedEvent

FORMAT: Final = "bookkeeper-database"
VERSION: Final = 1

#: The longest row line: a document of MAX_DOCUMENT_BYTES (10 MB) base64-encoded is
#: 14 MB; a sandbox file the same.
MAX_ROW_BYTES: Final = 32 * 1024 * 1024
#: Rows per insert statement.
_ROWS: Final = 500

casbin_rule = Table(
    "casbin_rule",
    MetaData(),
    Column("id", Integer(), primary_key=True),
    *(Column(name, String(255)) for name in ("ptype", "v0", "v1", "v2", "v3", "v4", "v5")),
)

#: Carried tables whose rows a migration seeds: the file's rows replace the target's.
REPLACED: Final = (casbin_rule, currencies, countries, tax_rates, saft_grouping)
#: Carried tables that start empty: a target holding any row of one is refused.
OWNED: Final = (
    fiscal_periods,
    tenant_credentials,
    tenant_settings,
    documents,
    document_purges,
    people_names,
    conversation_messages,
    sandbox_objects,
    sandbox_files,
    tracking,
)
CARRIED: Final = {str(table.name): table for table in (*REPLACED, *OWNED)}

#: Every other table of the schema, and why it does not need carrying.
NOT_CARRIED: Final = {
    "events": "carried as events",
    "proposals": "rebuilt from the events (replay)",
    "patterns": "rebuilt from the events (replay)",
    "journal_lines": "rebuilt from the events (replay)",
    "ledger_daily": "rebuilt from the events (replay)",
    "cost_snapshots": "rebuilt from the events (replay)",
    "event_chain": "the hash chain of the new log's positions, made by the sealer",
    "seals": "the seals of the new log's positions, made by the sealer",
    "fiken_gate": "Fiken's request window of the moment",
    "policy_version": "a counter; bumped by the policy's rows as they are written",
    "credentials_revision": "a counter; bumped after the credentials are written",
    "alembic_version": "the schema's revision; must be the file's",
}

#: Tables whose integer key the database allocates: after rows with their own keys, the
#: PostgreSQL sequence is moved past them (SQLite's AUTOINCREMENT follows by itself).
_SERIAL: Final = {
    "casbin_rule": "id",
    "document_purges": "id",
    "conversation_messages": "seq",
    "sandbox_objects": "seq",
    "sandbox_files": "seq",
}


class MoveRefused(ApplicationError):
    """The file cannot be moved into this database (not empty, another schema revision,
    credentials no configured key opens); nothing was written."""

    code = "move-refused"


class MoveReport(msgspec.Struct, frozen=True, kw_only=True):
    rows: dict[str, int]
    events: ImportReport


class _Header(msgspec.Struct, forbid_unknown_fields=True):
    format: str
    version: int
    schema: str
    dialect: str
    exported_at: dt.datetime


class _End(msgspec.Struct, forbid_unknown_fields=True):
    lines: int
    rows: int
    events: int
    sha256: str


class _Trailer(msgspec.Struct, forbid_unknown_fields=True):
    end: _End


class _RowLine(msgspec.Struct, forbid_unknown_fields=True):
    table: str
    row: dict[str, Any]


_encoder = msgspec.json.Encoder(decimal_format="string")
_row_decoder = msgspec.json.Decoder(_RowLine)


# --- export -------------------------------------------------------------------------------


async def _schema_revision(connection: AsyncConnection) -> str:
    revision = (await connection.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    if revision is None:
        raise MoveRefused("the database was never migrated (run `bookkeeper migrate`)")
    return str(revision)


def _encoded_row(table: Table, row: Any) -> dict[str, Any]:
    return {str(column.name): value for column, value in zip(table.columns, row, strict=True)}


async def export_database(
    database: SqlDatabase, progress: Callable[[int], None] = lambda _: None, page: int = 2_000
) -> AsyncIterator[bytes]:
    """The whole database in the move format, in chunks, from one snapshot; `progress`
    hears the number of lines written so far."""
    digest = hashlib.sha256()
    lines = rows = count = 0

    def emit(value: object, chunk: bytearray) -> None:
        nonlocal lines
        encoded = _encoder.encode(value) + b"\n"
        digest.update(encoded)
        chunk += encoded
        lines += 1

    try:
        async with database.engine.connect() as connection:
            if database.dialect == "postgresql":
                await connection.execution_options(
                    isolation_level="REPEATABLE READ", postgresql_readonly=True
                )
            else:
                await connection.execution_options(**{_READ_ONLY: True})
            async with connection.begin():
                chunk = bytearray()
                header = _Header(
                    format=FORMAT,
                    version=VERSION,
                    schema=await _schema_revision(connection),
                    dialect=database.dialect,
                    exported_at=dt.datetime.now(dt.UTC),
                )
                emit(header, chunk)
                for name, table in CARRIED.items():
                    key = list(table.primary_key.columns)
                    if table is tracking:
                        async for values in _tracking_rows(connection):
                            emit({"table": name, "row": values}, chunk)
                            rows += 1
                        continue
                    result = await connection.stream(select(table).order_by(*key))
                    async for row in result:
                        emit({"table": name, "row": _encoded_row(table, row)}, chunk)
                        rows += 1
                        if len(chunk) >= 1 << 20:
                            yield bytes(chunk)
                            chunk.clear()
                            progress(lines)
                yield bytes(chunk)
                chunk.clear()
                columns = statements_for(database.dialect).columns
                stmt = select(*columns).where(events.c.position > bindparam("after"))
                stmt = stmt.order_by(events.c.position).limit(max(page, 1))
                after = 0
                while True:
                    found = (await connection.execute(stmt, {"after": after})).all()
                    if not found:
                        break
                    for event in (_recorded(r) for r in found):
                        emit(event, chunk)
                        count += 1
                    after = found[-1][0]
                    yield bytes(chunk)
                    chunk.clear()
                    progress(lines)
                end = _End(lines=lines + 1, rows=rows, events=count, sha256=digest.hexdigest())
                yield _encoder.encode(_Trailer(end=end)) + b"\n"
                progress(lines + 1)
    except SQLAlchemyError as error:
        raise storage_error(error) from error


async def _tracking_rows(connection: AsyncConnection) -> AsyncIterator[dict[str, Any]]:
    """The subscribers' tracking rows, each with the number of the log's events up to its
    position (`events`) instead of the position, which means nothing in another log."""
    for row in (await connection.execute(select(tracking).order_by(tracking.c.subscriber))).all():
        values = _encoded_row(tracking, row)
        handled = select(func.count()).where(events.c.position <= values.pop("position"))
        values["events"] = (await connection.execute(handled)).scalar_one()
        yield values


# --- import -------------------------------------------------------------------------------


def _iso_datetime(value: Any) -> dt.datetime:
    moment = dt.datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone")
    return moment.astimezone(dt.UTC)


def _converter(column: Column[Any]) -> Callable[[Any], Any]:
    """From the JSON value of a column back to what its type takes."""
    kind = column.type
    if isinstance(kind, UtcDateTime):
        return _iso_datetime
    if isinstance(kind, ExactDecimal):
        return lambda v: Decimal(v) if isinstance(v, str) else _refuse(v, "a decimal string")
    if isinstance(kind, LargeBinary):
        return lambda v: base64.b64decode(v, validate=True)
    if isinstance(kind, Uuid):
        return uuid.UUID
    if isinstance(kind, Date):
        return dt.date.fromisoformat
    if isinstance(kind, JSON):
        return lambda v: v
    if isinstance(kind, Integer):
        return lambda v: (
            v if isinstance(v, int) and not isinstance(v, bool) else _refuse(v, "an integer")
        )
    return lambda v: v if isinstance(v, str) else _refuse(v, "a string")


def _refuse(value: Any, wanted: str) -> Any:
    raise ValueError(f"{value!r} is not {wanted}")


def _row(number: int, line: _RowLine) -> tuple[Table, dict[str, Any]]:
    table = CARRIED.get(line.table)
    if table is None:
        raise BadImportLine(number, f"table {line.table!r} is not one a move carries")
    names = [c.name for c in table.columns]
    given = dict(line.row)
    tracked = None
    if table is tracking:
        names.remove("position")
        tracked = given.pop("events", None)
        if not isinstance(tracked, int) or isinstance(tracked, bool) or tracked < 0:
            raise BadImportLine(number, "a tracking row needs its events handled, an integer")
    if set(given) != set(names):
        missing = sorted(set(names) - set(given))
        extra = sorted(set(given) - set(names))
        raise BadImportLine(
            number,
            f"a {table.name} row: missing {missing or 'nothing'}, unknown {extra or 'nothing'}",
        )
    values: dict[str, Any] = {}
    for column in table.columns:
        if column.name not in given:
            continue
        value = given[column.name]
        if value is None:
            if not column.nullable or column.primary_key:
                raise BadImportLine(number, f"{table.name}.{column.name} must not be null")
            values[column.name] = None
            continue
        try:
            values[column.name] = _converter(column)(value)
        except (ValueError, TypeError, binascii.Error, InvalidOperation) as error:
            raise BadImportLine(number, f"{table.name}.{column.name}: {error}") from None
    if tracked is not None:
        values["position"] = tracked  # the number of events handled, until mapped
    return table, values


def _read_lines(path: Path) -> Iterator[bytes]:
    """The file's lines, each cut one byte past the longest line taken."""
    with path.open("rb") as handle:
        while line := handle.readline(MAX_ROW_BYTES + 1):
            yield line


def _too_long(number: int, raw: bytes, limit: int) -> None:
    if len(raw.rstrip(b"\r\n")) > limit:
        raise BadImportLine(number, f"the line is longer than {limit:,} bytes")


def _header(raw: bytes) -> _Header:
    raw = raw.removeprefix(b"\xef\xbb\xbf")
    try:
        header = msgspec.json.decode(raw, type=_Header)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        raise BadImportLine(
            1,
            f"not a database export ({error}); `bookkeeper export database` writes one "
            "(a file of `export events` is imported with `import events`)",
        ) from None
    if header.format != FORMAT or header.version != VERSION:
        raise BadImportLine(
            1, f"format {header.format!r} version {header.version} is not {FORMAT!r} {VERSION}"
        )
    return header


class _OnConnection:
    """The EventImport port inside the move's transaction."""

    def __init__(self, importer: SqlEventImport, connection: AsyncConnection) -> None:
        self._importer = importer
        self._connection = connection

    async def insert_all(self, batches: Iterable[Sequence[RecordedEvent]]) -> int:
        return await self._importer.insert_on(self._connection, batches)


async def _refuse_unless_empty(connection: AsyncConnection) -> None:
    held = (await connection.execute(select(func.count()).select_from(events))).scalar_one()
    if held:
        raise MoveRefused(
            f"this database already holds {held:,} events: a database is moved into a new, "
            "empty one (`bookkeeper migrate` on it first), once; to add one company's "
            "events to a database in use, `import events` a file of `export events --tenant`"
        )
    for table in OWNED:
        if table is tracking:
            continue  # a served, empty database's subscribers are at 0: replaced below
        some = (await connection.execute(select(func.count()).select_from(table))).scalar_one()
        if some:
            raise MoveRefused(
                f"this database already holds {some:,} rows of {table.name}: a database is "
                "moved into a new, empty one, once"
            )


async def import_database(
    database: SqlDatabase,
    path: Path,
    *,
    check_secret: Callable[[str], object] | None,
    progress: Callable[[int], None] = lambda _: None,
) -> MoveReport:
    """Move the file into this (empty, migrated) database in one transaction; BadImportLine
    for a bad line, MoveRefused when the database cannot take it; nothing written either
    way. `check_secret` raises for a ciphertext the configured key does not open (None: no
    key is configured, and a file with credentials is refused)."""
    lines = iter(_read_lines(path))
    first = next(lines, b"")
    header = _header(first)
    rows: dict[str, int] = {}
    tracked: list[dict[str, Any]] = []
    try:
        async with database.engine.begin() as connection:
            schema = await _schema_revision(connection)
            if schema != header.schema:
                raise MoveRefused(
                    f"the file was exported at schema revision {header.schema}, this "
                    f"database is at {schema}: both must run the same version (migrate the "
                    "older one, `bookkeeper migrate`, and export again)"
                )
            if database.dialect == "postgresql":
                await connection.execute(text("LOCK TABLE events IN EXCLUSIVE MODE"))
            await _refuse_unless_empty(connection)
            for table in (*reversed(REPLACED), tracking):
                await connection.execute(delete(table))
            # Pass 1: the rows, up to the first event.
            state_lines = 1
            pending: dict[str, list[dict[str, Any]]] = {}
            for number, raw in enumerate(lines, start=2):
                if not raw.startswith(b'{"table"'):
                    break
                state_lines = number
                _too_long(number, raw, MAX_ROW_BYTES)
                try:
                    line = _row_decoder.decode(raw)
                except (msgspec.DecodeError, msgspec.ValidationError) as error:
                    raise BadImportLine(number, str(error)) from None
                table, values = _row(number, line)
                if table is tracking:
                    tracked.append(values)
                    continue
                if table is tenant_credentials:
                    _check_credentials(number, values, check_secret)
                batch = pending.setdefault(table.name, [])
                batch.append(values)
                rows[table.name] = rows.get(table.name, 0) + 1
                if len(batch) >= _ROWS:
                    await _insert(connection, table, batch, number)
                    batch.clear()
            for name, batch in pending.items():
                if batch:
                    await _insert(connection, CARRIED[name], batch, state_lines)
            # Pass 2: the events, checked as `import events` checks them, then the end.
            digest = hashlib.sha256()
            seen: dict[str, Any] = {"end": None, "at": 0, "last": 0}

            def event_lines() -> Iterator[bytes]:
                for number, raw in enumerate(_read_lines(path), start=1):
                    seen["last"] = number
                    if seen["end"] is not None:
                        raise BadImportLine(number, "a line after the file's last line")
                    if number > state_lines and raw.startswith(b'{"end"'):
                        try:
                            seen["end"] = msgspec.json.decode(raw, type=_Trailer).end
                        except (msgspec.DecodeError, msgspec.ValidationError) as error:
                            raise BadImportLine(number, f"the last line: {error}") from None
                        seen["at"] = number
                        yield b"\n"
                        continue
                    digest.update(raw)
                    if number <= state_lines:
                        yield b"\n"  # read in pass 1; keeps the numbering
                    else:
                        _too_long(number, raw, MAX_LINE_BYTES)
                        yield raw

            report = await import_events(
                event_lines, _OnConnection(SqlEventImport(database), connection), progress
            )
            end: _End | None = seen["end"]
            if end is None:
                raise BadImportLine(
                    seen["last"] + 1,
                    'the file ends without its last line (`{"end": …}`): cut short?',
                )
            carried = sum(rows.values()) + len(tracked)
            counted = (seen["at"], carried, report.lines)
            if (end.lines, end.rows, end.events) != counted:
                raise BadImportLine(
                    seen["at"],
                    f"the file is not the one exported: its last line counts {end.lines:,} "
                    f"lines, {end.rows:,} rows and {end.events:,} events; the file has "
                    f"{counted[0]:,} lines, {counted[1]:,} rows and {counted[2]:,} events",
                )
            if end.sha256 != digest.hexdigest():
                raise BadImportLine(
                    seen["at"],
                    "the file was changed after it was exported: the SHA-256 of its lines "
                    "is not the one its last line records",
                )
            for values in tracked:
                values["position"] = await _position_of(connection, values["position"])
            if tracked:
                await connection.execute(insert(tracking), tracked)
                rows["tracking"] = len(tracked)
            await _after_rows(connection, database.dialect)
    except ApplicationError:
        raise
    except SQLAlchemyError as error:
        raise storage_error(error) from error
    return MoveReport(rows=rows, events=report)


def _check_credentials(
    number: int, values: dict[str, Any], check_secret: Callable[[str], object] | None
) -> None:
    whose = f"{values['tenant_id']}'s {values['provider']} credentials"
    if check_secret is None:
        raise MoveRefused(
            f"line {number}: the file holds {whose}, encrypted: set BOOKKEEPER_CREDENTIALS_KEY "
            "to the key of the database they come from"
        )
    try:
        check_secret(values["ciphertext"])
    except Exception:
        raise MoveRefused(
            f"line {number}: {whose} do not open with BOOKKEEPER_CREDENTIALS_KEY: set it to "
            "the key of the database they come from"
        ) from None


async def _insert(
    connection: AsyncConnection, table: Table, batch: list[dict[str, Any]], number: int
) -> None:
    try:
        await connection.execute(insert(table), batch)
    except SQLAlchemyError as error:
        reason = str(getattr(error, "orig", error)).splitlines()[0]
        raise BadImportLine(
            number,
            f"{table.name}: the database refuses a row of this line or the {len(batch) - 1:,} "
            f"before it: {reason}",
        ) from None


async def _position_of(connection: AsyncConnection, handled: int) -> int:
    """The position in this log of the `handled`-th event imported (0: none)."""
    if handled <= 0:
        return 0
    stmt = select(events.c.position).order_by(events.c.position).offset(handled - 1).limit(1)
    found = (await connection.execute(stmt)).scalar()
    if found is None:
        raise MoveRefused(f"a subscriber had handled {handled:,} events; the file holds fewer")
    return int(found)


async def _after_rows(connection: AsyncConnection, dialect: str) -> None:
    """Counters and sequences past what was written."""
    r = credentials_revision
    await connection.execute(update(r).where(r.c.id == 1).values(revision=r.c.revision + 1))
    if dialect != "postgresql":
        return
    for table, column in _SERIAL.items():
        # The names are _SERIAL's constants, never input.
        past = f"COALESCE((SELECT max({column}) FROM {table}), 0) + 1"  # noqa: S608
        sequence = f"pg_get_serial_sequence('{table}', '{column}')"
        await connection.execute(text(f"SELECT setval({sequence}, {past}, false)"))
