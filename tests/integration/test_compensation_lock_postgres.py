"""A reversal or correction of one action is proposed once on PostgreSQL (story 6 under a
race): the check that the target has no compensation yet and the proposal's commit are
one critical section per target. An outside tester had 16 proposed at once against
`bookkeeper serve --workers 2` give two or three pending reversals of one executed
action (each read "none yet" before any committed)."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from bookkeeper.adapters.sql import SqlDatabase
from bookkeeper.adapters.sql.proposals import compensations_lock_key
from bookkeeper.application.commands import SubmitEvent
from bookkeeper.domain.errors import InvalidProposal
from bookkeeper.domain.events import Status
from tests.unit.external_doubles import TENANT, Harness, agent, expense, reversal

pytestmark = pytest.mark.postgres


async def test_a_reversal_waits_while_another_unit_proposes_one_of_the_same_action(
    postgres_url: str,
) -> None:
    """While another transaction holds the target's compensations lock (it is proposing a
    reversal or correction of it) a second proposal waits; once that one ends it reads the
    target's compensations afresh. Without the lock both read "none" before either
    committed."""
    database = SqlDatabase(postgres_url, pool_size=4, max_overflow=4)
    try:
        h = Harness(uow_factory=database.uow_factory())
        target = await h.approved(expense())
        await h.executor.run_once()
        assert (await h.view(target)).status is Status.EXECUTED
        key = compensations_lock_key(TENANT, target)
        async with await psycopg.AsyncConnection.connect(
            postgres_url.replace("postgresql+psycopg://", "postgresql://")
        ) as other:
            await other.execute("SELECT pg_advisory_xact_lock(%s)", (key,))
            proposing = asyncio.create_task(h.propose(reversal(target)))
            await asyncio.sleep(0.5)
            assert not proposing.done()
            await other.commit()  # the other unit ends: its lock goes with it
            first = await asyncio.wait_for(proposing, 10)
        assert (await h.view(first)).status is Status.PROPOSED
        # And the next one reads it.
        with pytest.raises(InvalidProposal, match=str(first)):
            await h.handlers.submit(
                SubmitEvent(type="ReversalProposed", data=reversal(target), principal=agent())
            )
    finally:
        await database.dispose()
