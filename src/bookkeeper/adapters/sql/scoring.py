"""The propose path's reads on SQL (ScoringReads): the merchant's candidate patterns and
the duplicate candidates of a proposal, in one statement (one round trip, one snapshot),
every part bounded by an index and a LIMIT whatever the tenant's size (ADR 0032)."""

from __future__ import annotations

import uuid
from functools import cache
from typing import Any, Final

from sqlalchemy import Integer, Select, cast, literal_column, null, select, union_all

from bookkeeper.adapters.sql.patterns import COLUMNS as PATTERN_COLUMNS
from bookkeeper.adapters.sql.patterns import (
    candidate_params,
    candidate_parts,
    pattern_view,
    unique_patterns,
)
from bookkeeper.adapters.sql.proposals import (
    duplicate_params,
    duplicate_parts,
    nearest_duplicates,
)
from bookkeeper.adapters.sql.schema import patterns, proposals
from bookkeeper.adapters.sql.session import Hot, Transaction, hot_dialect
from bookkeeper.application.ports import DuplicateProbe, PatternView, ScoringInputs

#: Where the pattern's columns end in a scoring row (after `part`).
_PATTERN_END: Final = 1 + len(PATTERN_COLUMNS)
#: `part` of a pattern row; a duplicate row's is 1 + its same_number flag.
_PATTERN_PART: Final = 0


class ScoringStatements:
    """The scoring reads of one dialect, as hot statements (compiled once)."""

    def __init__(self, dialect: str) -> None:
        compile_for = hot_dialect(dialect)
        pt, p = patterns, proposals
        date_type, id_type = p.c.document_date.type, p.c.id.type

        # Columns: part, the pattern's, document_date, duplicate_id. Every NULL is typed:
        # PostgreSQL types an untyped NULL of a subquery as text, which no UNION matches.
        pattern_rows = [
            select(
                literal_column(str(_PATTERN_PART), Integer).label("part"),
                *sub.c,
                cast(null(), date_type).label("document_date"),
                cast(null(), id_type).label("duplicate_id"),
            )
            for sub in (part.subquery() for part in candidate_parts(dialect))
        ]

        def scoring(duplicates: list[Select[Any]]) -> Hot:
            duplicate_rows = [
                select(
                    (sub.c.same_number + 1).label("part"),
                    *(cast(null(), c.type).label(c.name) for c in pt.c),
                    sub.c.document_date,
                    sub.c.id.label("duplicate_id"),
                )
                for sub in (part.subquery() for part in duplicates)
            ]
            return Hot(
                union_all(*pattern_rows, *duplicate_rows),
                compile_for,
                standalone=True,
                keep_cursor=True,  # rows under the parts' LIMITs
            )

        self.by_amount = scoring(duplicate_parts(by_number=False))
        self.by_amount_or_number = scoring(duplicate_parts(by_number=True))
        #: Without a probe: the candidate patterns alone.
        self.patterns_alone = Hot(
            union_all(*pattern_rows), compile_for, standalone=True, keep_cursor=True
        )


@cache
def statements_for(dialect: str) -> ScoringStatements:
    """The scoring statements of a dialect (built on first use, then shared)."""
    return ScoringStatements(dialect)


class SqlScoring:
    """The ScoringReads port on the unit of work's transaction."""

    def __init__(self, tx: Transaction) -> None:
        self._tx = tx
        self._sql = statements_for(tx.dialect)

    async def inputs(
        self, tenant_id: str, merchant_key: str, probe: DuplicateProbe | None
    ) -> ScoringInputs:
        params = candidate_params(tenant_id, merchant_key)
        if probe is None:
            stmt = self._sql.patterns_alone
        else:
            params |= duplicate_params(tenant_id, probe)
            if probe.document_number is None:
                stmt = self._sql.by_amount
            else:
                stmt = self._sql.by_amount_or_number
        found: list[PatternView] = []
        duplicates: list[tuple[int, Any, uuid.UUID]] = []
        for row in await self._tx.rows(stmt, params):
            if row[0] == _PATTERN_PART:
                found.append(pattern_view(row[1:_PATTERN_END]))
            else:
                duplicates.append((row[0] - 1, row[-2], row[-1]))
        return ScoringInputs(
            patterns=unique_patterns(found),
            duplicates=[] if probe is None else nearest_duplicates(probe, duplicates),
        )
