"""The propose path's reads on SQL (ScoringReads): the tenant's applied patterns and the
duplicate candidates of a proposal, in one statement (one round trip, one snapshot)."""

from __future__ import annotations

import uuid
from functools import cache
from typing import Any, Final

from sqlalchemy import Integer, Select, bindparam, cast, literal_column, null, select, union_all

from bookkeeper.adapters.sql.patterns import COLUMNS as PATTERN_COLUMNS
from bookkeeper.adapters.sql.patterns import pattern_view
from bookkeeper.adapters.sql.patterns import statements_for as pattern_statements
from bookkeeper.adapters.sql.proposals import duplicate_candidates, duplicate_params
from bookkeeper.adapters.sql.schema import patterns, proposals
from bookkeeper.adapters.sql.session import Hot, Transaction, hot_dialect
from bookkeeper.application.ports import DuplicateProbe, PatternView, ScoringInputs

#: Where the pattern's columns end in a scoring row (after `part`).
_PATTERN_END: Final = 1 + len(PATTERN_COLUMNS)


class ScoringStatements:
    """The scoring reads of one dialect, as hot statements (compiled once)."""

    def __init__(self, dialect: str) -> None:
        compile_for = hot_dialect(dialect)
        pt, p = patterns, proposals

        # The tenant's pattern rows (part 0) then the duplicate ids (part 1), each in the
        # order of its own statement. Columns: part, the pattern's, proposed_at, duplicate_id.
        def scoring(duplicates: Select[Any]) -> Hot:
            pattern_rows = select(
                literal_column("0", Integer).label("part"),
                *pt.c,
                cast(null(), p.c.proposed_at.type).label("proposed_at"),
                cast(null(), p.c.id.type).label("duplicate_id"),
            ).where(pt.c.tenant_id == bindparam("tenant_id"))
            duplicate_rows = duplicates.with_only_columns(
                literal_column("1", Integer),
                *(null() for _ in pt.c),
                p.c.proposed_at,
                p.c.id,
            ).order_by(None)
            return Hot(
                union_all(pattern_rows, duplicate_rows).order_by(
                    "part", "merchant_key", "proposed_at", "duplicate_id"
                ),
                compile_for,
            )

        self.by_amount = scoring(duplicate_candidates(by_number=False))
        self.by_amount_or_number = scoring(duplicate_candidates(by_number=True))
        #: Without a probe: the patterns alone.
        self.patterns_for_tenant = pattern_statements(dialect).for_tenant


@cache
def statements_for(dialect: str) -> ScoringStatements:
    """The scoring statements of a dialect (built on first use, then shared)."""
    return ScoringStatements(dialect)


class SqlScoring:
    """The ScoringReads port on the unit of work's transaction."""

    def __init__(self, tx: Transaction) -> None:
        self._tx = tx
        self._sql = statements_for(tx.dialect)

    async def inputs(self, tenant_id: str, probe: DuplicateProbe | None) -> ScoringInputs:
        if probe is None:
            rows = await self._tx.rows(self._sql.patterns_for_tenant, {"tenant_id": tenant_id})
            return ScoringInputs(patterns=[pattern_view(row) for row in rows], duplicates=[])
        params = duplicate_params(tenant_id, probe)
        if probe.document_number is None:
            stmt = self._sql.by_amount
        else:
            stmt = self._sql.by_amount_or_number
        patterns_found: list[PatternView] = []
        duplicates: list[uuid.UUID] = []
        for row in await self._tx.rows(stmt, params):
            if row[0] == 0:
                patterns_found.append(pattern_view(row[1:_PATTERN_END]))
            else:
                duplicates.append(row[-1])
        return ScoringInputs(patterns=patterns_found, duplicates=duplicates)
