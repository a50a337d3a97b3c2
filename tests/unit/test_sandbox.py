"""The sandbox's seed and memory store, without a database."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from bookkeeper.adapters.sandbox import sandbox_backends, sandbox_store
from bookkeeper.adapters.sandbox.seed import (
    CARD_EVENTS,
    CHART_OF_ACCOUNTS,
    bank_account_number,
    bank_seed,
    books_seed,
    organization_number,
)
from bookkeeper.adapters.sandbox.store import FIRST_NUMBER, MemorySandboxStore, NewObject
from bookkeeper.application.errors import ExternalRejected

NOW = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)
TODAY = dt.date(2026, 11, 20)


def _mod11_ok(number: str, weights: tuple[int, ...]) -> bool:
    remainder = sum(int(d) * w for d, w in zip(number[:-1], weights, strict=True)) % 11
    check = 0 if remainder == 0 else 11 - remainder
    return check != 10 and int(number[-1]) == check


@pytest.mark.parametrize("tenant", ["acme", "globex", "Ærlig Regnskap AS", ""])
def test_numbers_are_stable_and_carry_a_valid_check_digit(tenant: str) -> None:
    org = organization_number(tenant)
    assert org == organization_number(tenant)
    assert len(org) == 9 and org.startswith("9")
    assert _mod11_ok(org, (3, 2, 7, 6, 5, 4, 3, 2))
    for kind in ("operational", "card"):
        account = bank_account_number(tenant, kind)
        assert account == bank_account_number(tenant, kind)
        assert len(account) == 11
        assert _mod11_ok(account, (5, 4, 3, 2, 7, 6, 5, 4, 3, 2))
    assert bank_account_number(tenant, "operational") != bank_account_number(tenant, "card")


def test_the_books_seed_is_the_company_the_common_accounts_and_the_bank_account() -> None:
    seed = books_seed("acme")
    assert seed == books_seed("acme")
    kinds = [o.kind for o in seed.objects]
    assert kinds.count("company") == 1
    assert kinds.count("bank_account") == 1
    codes = [o.data["code"] for o in seed.objects if o.kind == "account"]
    assert codes == [code for code, _ in CHART_OF_ACCOUNTS]
    # the common codes of docs/norway.md, the default table and the bus's sales without
    # VAT (3100, 3200) and exchange differences (8060, 8160; ADR 0057), not the standard list
    assert len(codes) == 29


def test_the_bank_seed_is_two_months_before_the_day_with_money_out_negative() -> None:
    seed = bank_seed("acme", TODAY)
    assert seed == bank_seed("acme", TODAY)
    assert seed != bank_seed("globex", TODAY)
    events = [o for o in seed.objects if o.kind == "event"]
    assert len(events) == len(CARD_EVENTS) + 2
    assert all(TODAY - dt.timedelta(days=60) <= o.date <= TODAY for o in events if o.date)
    card = bank_account_number("acme", "card")
    card_amounts = [Decimal(o.data["amount"]) for o in events if o.data["account_number"] == card]
    assert all(amount < 0 for amount in card_amounts)
    assert all(amount == amount.quantize(Decimal("0.01")) for amount in card_amounts)
    [card_account] = [o for o in seed.objects if o.kind == "account" and o.id == card]
    assert Decimal(card_account.data["balance"]) == Decimal("15000.00") + sum(card_amounts)
    assert {f.owner_id for f in seed.files} <= {o.id for o in events}
    assert 0 < len(seed.files) < len(CARD_EVENTS) / 2


async def test_the_memory_store_numbers_objects_and_refuses_duplicates() -> None:
    store = MemorySandboxStore()
    first = await store.add("t", "books", NewObject(kind="purchase", data={"a": 1}), NOW)
    second = await store.add("t", "books", NewObject(kind="purchase", data={"a": 2}), NOW)
    assert int(first) > FIRST_NUMBER and int(second) > int(first)
    await store.add("t", "books", NewObject(kind="x", id="k", data={}), NOW)
    with pytest.raises(ValueError, match="already"):
        await store.add("t", "books", NewObject(kind="x", id="k", data={}), NOW)


async def test_a_refused_change_leaves_the_object_as_it_was() -> None:
    store = MemorySandboxStore()
    object_id = await store.add("t", "bank", NewObject(kind="event", data={"n": 1}), NOW)

    def refuse(data: dict[str, Any]) -> dict[str, Any]:
        data["n"] = 99  # a change to the copy it was given…
        raise ExternalRejected("no", system="sandbox-bank")  # …that is then refused

    with pytest.raises(ExternalRejected):
        await store.update("t", "bank", "event", object_id, refuse)
    stored = await store.get("t", "bank", "event", object_id)
    assert stored is not None and stored.data == {"n": 1}
    assert await store.update("t", "bank", "event", "nope", refuse) is None


async def test_without_an_engine_the_sandbox_lives_in_memory() -> None:
    class StandIn:
        dialect = "memory"

    assert isinstance(sandbox_store(StandIn()), MemorySandboxStore)
    books, bank = sandbox_backends(StandIn())
    assert books("acme").name == bank("acme").name == "sandbox"
    # One store per call: books and bank of the same providers share it.
    assert len(await bank("acme").accounts()) == 2
