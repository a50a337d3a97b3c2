"""The propose path's reads are bounded (ADR 0032): the pattern lookup of a merchant and the
duplicate probe read a few rows through indexes, never the tenant's every pattern or every
look-alike, and still find what scoring needs. Run on every backend of the contract tests
(memory is the reference: it reads everything)."""

from __future__ import annotations

import datetime as dt
import json
import random
import sqlite3
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import msgspec
import psycopg
import pytest
from sqlalchemy.dialects import postgresql as postgresql_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from bookkeeper.adapters.sql.patterns import candidate_params
from bookkeeper.adapters.sql.proposals import (
    bank_event_claims_statement,
    duplicate_params,
    same_document_statement,
)
from bookkeeper.adapters.sql.retention import document_hash_sql
from bookkeeper.adapters.sql.scoring import statements_for
from bookkeeper.application.ports import DUPLICATE_LIMIT, DuplicateProbe, PatternView
from bookkeeper.domain.events import Status
from bookkeeper.domain.patterns import MatchKind, Pattern, best_match, normalise_merchant
from tests.integration.conftest import _libpq_url
from tests.integration.test_event_store_contract import (
    ACME,
    DAY,
    GLOBEX,
    POSTGRES,
    Backend,
    _open_backend,
    pattern,
    proposal_view,
    upsert,
)

#: The most rows a SQL candidate lookup may return: the key and 3 prefixes, 1 extension,
#: 8 of the first word, 4 + 4 neighbours.
MAX_CANDIDATES = 4 + 1 + 8 + 8


@pytest.fixture(params=["memory", "sqlite", POSTGRES])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    async for opened in _open_backend(request):
        yield opened


WORDS = ("kiwi", "rema", "adobe", "coop", "extra", "obs", "majorstuen", "sentrum", "555", "bar")


def as_pattern(view: PatternView) -> Pattern:
    return Pattern(
        merchant_key=view.merchant_key,
        merchant_name=view.merchant_name,
        account_code=view.account_code,
        vat_rate=view.vat_rate,
        suggestion_id=str(view.suggestion_id),
    )


async def store_patterns(backend: Backend, *views: PatternView) -> None:
    async with backend.factory() as uow:
        for view in views:
            await uow.patterns.upsert(view)
        await uow.commit()


def fillers(count: int, seed: int = 7) -> list[PatternView]:
    rng = random.Random(seed)
    keys = {" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 3))) for _ in range(count)} | {
        f"filler {n:05d}" for n in range(count)
    }
    return [pattern(ACME, key) for key in sorted(keys)]


async def test_candidates_hold_the_key_its_prefixes_and_its_first_extension(
    backend: Backend,
) -> None:
    wanted = [
        pattern(ACME, key)
        for key in ("adobe", "adobe creative", "adobe creative cloud", "adobe creative cloud pro")
    ]
    beyond = pattern(ACME, "adobe creative cloud zeta")  # extends too, but sorts later
    await store_patterns(backend, *fillers(300), *wanted, beyond, pattern(GLOBEX, "adob"))
    async with backend.factory() as uow:
        found = await uow.patterns.candidates(ACME, "adobe creative cloud")
        everything = await uow.patterns.for_tenant(ACME)
    keys = [p.merchant_key for p in found]
    assert {w.merchant_key for w in wanted} <= set(keys)
    assert keys == sorted(set(keys))
    assert all(p.tenant_id == ACME for p in found)
    if backend.name != "memory":
        assert len(found) <= MAX_CANDIDATES < len(everything)


async def test_best_match_on_candidates_is_best_match_on_every_pattern(
    backend: Backend,
) -> None:
    """Exact and same-merchant matches are found exactly; a near match whose first word
    is shared or that is an alphabetical neighbour is found among the candidates."""
    views = fillers(400, seed=11)
    near = [pattern(ACME, "elkjop nordic"), pattern(ACME, "clas ohlson")]
    await store_patterns(backend, *views, *near)
    async with backend.factory() as uow:
        everything = [as_pattern(p) for p in await uow.patterns.for_tenant(ACME)]
    rng = random.Random(3)
    names = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 4))) for _ in range(60)]
    names += ["Elkjøp Nordik AS", "Clas Ohlsson", "Kiwi 555 Majorstuen Sentrum", "Obs Bar"]
    for name in names:
        expected = best_match(name, everything)
        async with backend.factory() as uow:
            key = normalise_merchant(name)
            candidates = [as_pattern(p) for p in await uow.patterns.candidates(ACME, key)]
        got = best_match(name, candidates)
        if expected is None:
            assert got is None, name
        elif expected.kind is MatchKind.EXACT:
            assert got == expected, name
        else:
            assert got is not None and got.kind is MatchKind.NEAR, name
            assert got.score >= expected.score - 0.1, name


def _probe(number: str | None) -> DuplicateProbe:
    return DuplicateProbe(
        merchant_key="cafe",
        amount=Decimal("45.00"),
        date_from=DAY - dt.timedelta(days=3),
        date_to=DAY + dt.timedelta(days=3),
        document_number=number,
        exclude_id=uuid.uuid4(),
    )


async def test_duplicates_are_the_nearest_few_with_the_same_number_first(
    backend: Backend,
) -> None:
    def coffee(days: int, **changes: Any) -> Any:
        values: dict[str, Any] = {
            "merchant_key": "cafe",
            "amount": Decimal("45.00"),
            "document_date": DAY + dt.timedelta(days=days),
            "document_number": None,
        }
        return proposal_view(**(values | changes))

    look_alikes = [coffee(d) for d in (-3, -3, -2, 2, 3, 3, 1, 1, -1)] * 3
    exact_day = [coffee(0), coffee(0)]
    rejected = coffee(0, status=Status.REJECTED)
    numbered = coffee(-60, amount=Decimal("7.00"), document_number="K-1")
    await upsert(backend, *look_alikes, *exact_day, rejected, numbered)

    plain_probe, numbered_probe = _probe(None), _probe("K-1")
    candidates = (*look_alikes, *exact_day)
    in_order = sorted(candidates, key=lambda v: plain_probe.order_key(False, v.document_date, v.id))
    async with backend.factory() as uow:
        plain = await uow.proposals.find_duplicates(ACME, plain_probe)
        with_number = await uow.proposals.find_duplicates(ACME, numbered_probe)
        scored = await uow.scoring.inputs(ACME, "cafe", numbered_probe)
    by_id = {v.id: v for v in candidates}
    # The two of the same day, then the nearest later one with the smallest id.
    assert [by_id[i].document_date for i in plain] == [DAY, DAY, DAY + dt.timedelta(days=1)]
    assert sorted(plain[:2]) == sorted(v.id for v in exact_day)
    day_after = [v.id for v in look_alikes if v.document_date == DAY + dt.timedelta(days=1)]
    assert plain[2] == min(day_after)
    assert plain == [v.id for v in in_order[:DUPLICATE_LIMIT]]
    assert with_number == [numbered.id] + [v.id for v in in_order[: DUPLICATE_LIMIT - 1]]
    assert scored.duplicates == with_number


async def test_the_scoring_read_touches_few_rows_whatever_the_tenant_holds(
    backend: Backend, request: pytest.FixtureRequest
) -> None:
    """Before any ANALYZE, with 1,500 patterns and 1,500 identical receipts in the window,
    the one scoring statement reads a bounded number of rows (EXPLAIN ANALYZE on
    PostgreSQL; on SQLite every table access is an index SEARCH, never a SCAN)."""
    if backend.name == "memory":
        pytest.skip("the memory store reads everything by design")
    await store_patterns(backend, *fillers(750, seed=5))
    same = proposal_view(merchant_key="cafe", amount=Decimal("45.00"), document_number=None)
    await upsert(backend, *(msgspec.structs.replace(same, id=uuid.uuid4()) for _ in range(1500)))
    probe = _probe("K-9")
    params = candidate_params(ACME, "kiwi 555") | duplicate_params(ACME, probe)
    if backend.name == "postgres":
        hot = statements_for("postgresql").by_amount_or_number
        url = _libpq_url(request.getfixturevalue("postgres_url"))
        with psycopg.connect(url) as connection:
            row = connection.execute(
                "EXPLAIN (ANALYZE, FORMAT JSON) " + hot.sql, hot.defaults | params
            ).fetchone()
        assert row is not None
        plan = row[0] if isinstance(row[0], list) else json.loads(row[0])
        read = _rows_read(plan[0]["Plan"])
        # 3 + 3 + 3 duplicates and at most MAX_CANDIDATES patterns, a few filtered away.
        assert read <= 60, read
    else:
        hot = statements_for("sqlite").by_amount_or_number
        compiled = hot.statement.compile(dialect=sqlite_dialect.dialect())  # type: ignore[attr-defined]
        path = request.getfixturevalue("sqlite_url").removeprefix("sqlite:///")
        connection = sqlite3.connect(path)
        try:
            # The plan does not depend on the values (no sqlite_stat4).
            holes = [None] * len(compiled.positiontup or ())
            plan = connection.execute("EXPLAIN QUERY PLAN " + str(compiled), holes).fetchall()
        finally:
            connection.close()
        steps = [str(step[-1]) for step in plan]
        scans = [s for s in steps if s.startswith(("SCAN patterns", "SCAN proposals"))]
        assert not scans, steps
        assert any("ix_proposals_duplicate_amount" in s for s in steps), steps


def _rows_read(node: dict[str, Any]) -> int:
    """Rows that the plan's scans of tables produced or filtered away."""
    own = 0
    if "Relation Name" in node:
        own = int(node.get("Actual Rows", 0)) * int(node.get("Actual Loops", 1))
        own += int(node.get("Rows Removed by Filter", 0))
        own += int(node.get("Rows Removed by Index Recheck", 0))
    return own + sum(_rows_read(child) for child in node.get("Plans", []))


def _literal_sql(stmt: Any, dialect: str) -> str:
    """`stmt` as SQL of `dialect` with its values written in (for EXPLAIN)."""
    compiler = postgresql_dialect if dialect == "postgresql" else sqlite_dialect
    return str(
        stmt.compile(
            dialect=compiler.dialect(),
            compile_kwargs={"literal_binds": True},
        )
    )


def assert_index_walk(
    request: pytest.FixtureRequest,
    backend: Backend,
    sql: str,
    index: str,
    *,
    rows: int,
    seqscan: bool = True,
) -> None:
    """`sql` reads through `index`: on PostgreSQL (EXPLAIN ANALYZE; `seqscan` False: with
    sequential scans off, where a table too small for an index would hide the plan) reading
    at most `rows` rows; on SQLite (EXPLAIN QUERY PLAN) as a SEARCH, never a SCAN of
    proposals."""
    if backend.name == "postgres":
        url = _libpq_url(request.getfixturevalue("postgres_url"))
        with psycopg.connect(url) as connection:
            if not seqscan:
                connection.execute("SET enable_seqscan = off")
            row = connection.execute(
                ("EXPLAIN (ANALYZE, FORMAT JSON) " + sql).replace("%", "%%")
            ).fetchone()
        assert row is not None
        plan = row[0] if isinstance(row[0], list) else json.loads(row[0])
        assert index in json.dumps(plan), plan
        assert _rows_read(plan[0]["Plan"]) <= rows, plan
        return
    path = request.getfixturevalue("sqlite_url").removeprefix("sqlite:///")
    database = sqlite3.connect(path)
    try:
        steps = [str(step[-1]) for step in database.execute("EXPLAIN QUERY PLAN " + sql)]
    finally:
        database.close()
    assert not [s for s in steps if s.startswith("SCAN proposals")], steps
    assert any(index in s for s in steps), steps


async def test_the_bank_event_holders_are_one_index_walk_whatever_the_tenant_holds(
    backend: Backend, request: pytest.FixtureRequest
) -> None:
    """Approving and executing a receipt ask which proposals hold its Folio event (ADR 0051
    addendum): with 1,500 executed receipts of other events, and a correction and a
    corrected receipt naming the one asked for, the read finds exactly those through
    ix_proposals_bank_event (migration 0024), reading a few rows (EXPLAIN ANALYZE on
    PostgreSQL; an index SEARCH, never a SCAN, on SQLite)."""
    receipt = proposal_view(status=Status.EXECUTED)
    others = [
        msgspec.structs.replace(
            receipt, id=uuid.uuid4(), data=receipt.data | {"folioEventId": f"ev-{n}"}
        )
        for n in range(1500)
    ]
    corrected = msgspec.structs.replace(
        receipt,
        id=uuid.uuid4(),
        status=Status.APPROVED,
        data=receipt.data | {"folioEventId": "ev-typo"},
        corrections={"folioEventId": "ev-asked"},
    )
    correction = msgspec.structs.replace(
        receipt,
        id=uuid.uuid4(),
        kind="correction",
        type="CorrectionProposed",
        data={"targetProposalId": str(uuid.uuid4()), "changes": {"folioEventId": "ev-asked"}},
    )
    await upsert(backend, *others, corrected, correction)
    async with backend.factory() as uow:
        found = await uow.proposals.bank_event_claims(ACME, "ev-asked")
        assert {v.id for v in found} >= {corrected.id, correction.id}
        assert await uow.proposals.bank_event_claims(GLOBEX, "ev-asked") == []
    if backend.name == "memory":
        return
    dialect = "postgresql" if backend.name == "postgres" else "sqlite"
    stmt = bank_event_claims_statement(dialect).params(tenant_id=ACME, folio_event_id="ev-asked")
    assert_index_walk(
        request, backend, _literal_sql(stmt, dialect), "ix_proposals_bank_event", rows=10
    )


async def test_the_document_index_holds_only_proposals_that_name_a_document(
    backend: Backend, request: pytest.FixtureRequest
) -> None:
    """ix_proposals_document (migration 0026, partial since 0028): a proposal that names
    no document has no entry (the index does not grow with, nor get maintained for, bank
    matches, sales and receipts without their file), and the retention's lookup of the
    proposals that name a file — compared case-blind, as `booked_on_sql` does — still
    reads it (an index SEARCH on SQLite; the index, few rows, on PostgreSQL)."""
    if backend.name == "memory":
        pytest.skip("no SQL index in the memory store")
    named = "AB" * 32
    plain = proposal_view()
    await upsert(
        backend,
        *(msgspec.structs.replace(plain, id=uuid.uuid4()) for _ in range(300)),
        msgspec.structs.replace(plain, id=uuid.uuid4(), data=plain.data | {"documentHash": named}),
    )
    dialect = "postgresql" if backend.name == "postgres" else "sqlite"
    lookup = (
        f"SELECT p.id FROM proposals p WHERE p.tenant_id = '{ACME}' "
        f"AND {document_hash_sql(dialect)} = lower('{named}')"
    )
    assert_index_walk(request, backend, lookup, "ix_proposals_document", rows=1, seqscan=False)
    if backend.name == "postgres":
        url = _libpq_url(request.getfixturevalue("postgres_url"))
        with psycopg.connect(url) as connection:
            entries = connection.execute(
                f"SELECT count(*) FROM proposals p WHERE {document_hash_sql(dialect)} IS NOT NULL"
            ).fetchone()
            predicate = connection.execute(
                "SELECT pg_get_expr(i.indpred, i.indrelid) FROM pg_index i "
                "JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'ix_proposals_document'"
            ).fetchone()
        assert entries == (1,)
        assert predicate is not None and predicate[0] is not None, "not a partial index"
        assert "documentHash" in predicate[0]
    else:
        path = request.getfixturevalue("sqlite_url").removeprefix("sqlite:///")
        database = sqlite3.connect(path)
        try:
            partial = {row[1]: row[4] for row in database.execute("PRAGMA index_list(proposals)")}
            found = database.execute(lookup).fetchall()
        finally:
            database.close()
        assert partial["ix_proposals_document"] == 1, partial
        assert len(found) == 1


async def test_the_same_file_probe_is_one_index_walk_whatever_the_tenant_holds(
    backend: Backend, request: pytest.FixtureRequest
) -> None:
    """The propose path asks which proposals name the same document file (its SHA-256):
    with 1,500 proposals of other files, it finds the earlier ones naming it (not the
    rejected one, not the one proposing, not another tenant's) through ix_proposals_document
    (migration 0026), reading a few rows (EXPLAIN ANALYZE on PostgreSQL; an index SEARCH,
    never a SCAN, on SQLite)."""
    asked = "ab" * 32
    receipt = proposal_view()
    others = [
        msgspec.structs.replace(
            receipt, id=uuid.uuid4(), data=receipt.data | {"documentHash": f"{n:064x}"}
        )
        for n in range(1500)
    ]
    earlier = [
        msgspec.structs.replace(
            receipt,
            id=uuid.uuid4(),
            status=status,
            proposed_at=receipt.proposed_at + dt.timedelta(minutes=n),
            merchant_key=f"spelled {n}",
            data=receipt.data | {"documentHash": asked.upper() if n else asked},
        )
        for n, status in enumerate((Status.EXECUTED, Status.REJECTED, Status.PROPOSED))
    ]
    proposing = msgspec.structs.replace(
        receipt, id=uuid.uuid4(), data=receipt.data | {"documentHash": asked}
    )
    theirs = msgspec.structs.replace(
        receipt, id=uuid.uuid4(), tenant_id=GLOBEX, data=receipt.data | {"documentHash": asked}
    )
    await upsert(backend, *others, *earlier, proposing, theirs)
    async with backend.factory() as uow:
        found = await uow.proposals.same_document(ACME, asked, proposing.id)
    assert found == [earlier[0].id, earlier[2].id]
    if backend.name == "memory":
        return
    dialect = "postgresql" if backend.name == "postgres" else "sqlite"
    stmt = same_document_statement(dialect).params(
        tenant_id=ACME, document_hash=asked, exclude_id=proposing.id
    )
    assert_index_walk(
        request, backend, _literal_sql(stmt, dialect), "ix_proposals_document", rows=10
    )
