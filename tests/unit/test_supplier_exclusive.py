"""A supplier's find-and-create is exclusive per supplier (issue 14, ADR 0043): the keys
it holds, and that the Exclusive port is held around the books' find and create (and
around nothing else)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from bookkeeper.adapters.memory_locks import InProcessLocks
from bookkeeper.application.execution import ExecutionPolicy
from bookkeeper.application.execution.books_actions import supplier_keys
from bookkeeper.domain.events import Status
from tests.unit.external_doubles import Harness, World, expense, invoice


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


def test_tenants_booking_into_one_company_share_its_suppliers_keys() -> None:
    """ADR 0047: the contact is created in the company, so the key is the company's when
    the books say which one it is; the tenant's only when they do not."""
    shared = "fiken:acme-holding-as"
    acme = set(supplier_keys("acme", "976 967 631", "Telenor Norge AS", shared))
    globex = set(supplier_keys("globex", "976967631", "telenor norge as", shared))
    assert acme == globex
    assert not acme & set(supplier_keys("acme", "976967631", "Telenor Norge AS", "fiken:other"))
    assert not acme & set(supplier_keys("acme", "976967631", "Telenor Norge AS"))


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
    h.exclusive = locks
    executor = h.new_executor("one", books=lambda _tenant: books)  # type: ignore[arg-type,return-value]
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


async def test_two_tenants_of_one_fiken_company_create_one_new_supplier() -> None:
    """Two tenants whose credentials name the same Fiken company execute invoices of one
    new supplier side by side (one executor runs tenants concurrently; every books call
    yields): the second finds the contact the first created instead of creating another."""
    h = Harness(world=World(interleave=True))
    company = h.world.books("acme")  # one company's books, whichever tenant books into it
    company.shared_company = "fiken:acme-holding-as"
    executor = h.new_executor("one", books=lambda _tenant: company)
    mine = await h.approved(invoice(invoice_number="F-1"), tenant="acme")
    theirs = await h.approved(invoice(invoice_number="F-2"), tenant="globex")

    report = await executor.run_once()

    assert report.executed == 2
    assert (await h.view(mine, "acme")).status is Status.EXECUTED
    assert (await h.view(theirs, "globex")).status is Status.EXECUTED
    assert company.created_suppliers == {"976967631": 1}
    assert len(company.suppliers) == 1


async def test_the_cross_process_lock_is_held_by_the_company_not_the_tenant() -> None:
    h = Harness()
    locks = Recording()
    company = h.world.books("acme")
    company.shared_company = "fiken:acme-holding-as"
    h.exclusive = locks
    executor = h.new_executor("one", books=lambda _tenant: company)
    await h.approved(invoice(invoice_number="F-1"), tenant="acme")
    await h.approved(invoice(invoice_number="F-2"), tenant="globex")
    assert (await executor.run_once()).executed == 2
    keys = supplier_keys("acme", "976967631", "Telenor Norge AS", "fiken:acme-holding-as")
    assert locks.holds == [keys, keys]  # globex's invoice waits for the same keys


@pytest.mark.parametrize("shared", [True, False])
async def test_two_executors_of_one_process_share_its_supplier_locks(shared: bool) -> None:
    """The in-process locks are the composition root's one InProcessLocks, not a module
    global: two executors given it (as the harness gives its executors) run one invoice
    each of a new supplier side by side and create the contact once; given a lock set
    each, nothing holds the second back (each process has its own), which is why replicas
    need the PostgreSQL adapter."""
    h = Harness(world=World(interleave=True), policy=ExecutionPolicy(batch_size=1))
    one = h.new_executor("one")
    if not shared:
        h.exclusive = InProcessLocks()
    two = h.new_executor("two")
    await h.approved(invoice(invoice_number="F-1"))
    await h.approved(invoice(invoice_number="F-2"))

    reports = await asyncio.gather(one.run_once(), two.run_once())

    assert [report.executed for report in reports] == [1, 1]
    created = h.world.books("acme").created_suppliers
    assert created == {"976967631": 1 if shared else 2}
