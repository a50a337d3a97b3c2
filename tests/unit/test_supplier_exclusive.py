"""A supplier's find-and-create is exclusive per supplier (issue 14, ADR 0043): the keys
it holds, and that the Exclusive port is held around the books' find and create (and
around nothing else)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

from bookkeeper.application.execution import Executor
from bookkeeper.application.execution.books_actions import supplier_keys
from bookkeeper.domain.events import Status
from tests.unit.external_doubles import Harness, expense, invoice


def test_invoices_that_could_find_or_create_one_contact_share_a_key() -> None:
    named = set(supplier_keys("acme", None, "Telenor  Norge AS"))
    numbered = set(supplier_keys("acme", "976 967 631", "telenor norge as"))
    renamed = set(supplier_keys("acme", "976967631", "Telenor ASA"))
    other = set(supplier_keys("acme", "923609016", "Equinor ASA"))
    assert named & numbered  # the same name (the lookup falls back to it)
    assert numbered & renamed  # the same organisation number
    assert not other & (named | numbered | renamed)
    assert not set(supplier_keys("globex", None, "Telenor Norge AS")) & named  # per tenant
    assert list(supplier_keys("acme", "976967631", "X")) == sorted(
        supplier_keys("acme", "976967631", "X")
    )


class Recording:
    """An Exclusive that records what is held, and when."""

    def __init__(self) -> None:
        self.holds: list[tuple[str, ...]] = []
        self.inside: set[str] = set()

    @contextlib.asynccontextmanager
    async def hold(self, keys: Sequence[str]) -> AsyncIterator[None]:
        self.holds.append(tuple(keys))
        self.inside.update(keys)
        try:
            yield
        finally:
            self.inside.difference_update(keys)


class Checked:
    """Books whose supplier calls must run under the Exclusive."""

    def __init__(self, inner: Any, locks: Recording) -> None:
        self._inner = inner
        self._locks = locks
        self.name = inner.name
        self.checked = 0

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if name not in ("find_supplier", "create_supplier"):
            return attribute

        async def call(*args: Any, **kwargs: Any) -> Any:
            assert self._locks.inside, f"{name} outside the supplier's lock"
            self.checked += 1
            return await attribute(*args, **kwargs)

        return call


async def test_the_executor_holds_the_suppliers_keys_across_its_find_and_create() -> None:
    h = Harness()
    locks = Recording()
    books = Checked(h.world.books("acme"), locks)
    executor = Executor(
        h.uow_factory,
        lambda _tenant: books,  # type: ignore[arg-type,return-value]
        h.world.bank,
        h.clock,
        h.ids,
        h.policy,
        name="one",
        exclusive=locks,
    )
    first = await h.approved(invoice(invoice_number="F-1"))
    second = await h.approved(invoice(invoice_number="F-2"))
    paid = await h.approved(expense())
    report = await executor.run_once()
    assert report.executed == 3
    for proposal_id in (first, second, paid):
        assert (await h.view(proposal_id)).status is Status.EXECUTED
    keys = supplier_keys("acme", "976967631", "Telenor Norge AS")
    assert locks.holds == [keys, keys]  # the two invoices; the expense has no supplier
    assert books.checked == 3  # find, create; then find (it exists now)
    assert locks.inside == set()
    assert h.world.duplicates() == []
