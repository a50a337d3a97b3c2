"""The Fiken history adapter (FikenHistory over FikenClient.pages) against the loopback
fake: Fiken's paging (page/pageSize, Fiken-Api-Page-Count and -Result-Count) and filters as
the spec names them, each record decoded on its own (a broken one is a problem with its id),
and a broken answer or a refused token our named error — with nothing imported."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest

from bookkeeper.adapters.fiken import FikenClient, RetryPolicy, SlidingWindow
from bookkeeper.adapters.fiken.history import FikenHistory
from bookkeeper.adapters.memory import MemoryUnitOfWorkFactory
from bookkeeper.application.books_import import BooksImport
from bookkeeper.application.errors import (
    ExternalAnswerInvalid,
    ExternalAuthFailed,
    ExternalError,
    ExternalUnavailable,
)
from bookkeeper.application.ports import HistoryQuery
from tests.fakes.fiken import BANK_ACCOUNT_CODE, DEFAULT_COMPANY, FakeFiken, running_fake_fiken
from tests.fakes.hostile import MODES
from tests.unit.conftest import FixedClock


async def _no_sleep(seconds: float) -> None:
    return None


@pytest.fixture
async def fiken() -> AsyncIterator[tuple[FakeFiken, FikenClient]]:
    async with running_fake_fiken(today=dt.date(2026, 3, 1)) as (fake, base_url):
        client = FikenClient(
            base_url,
            fake.token,
            timeout=5,
            window=SlidingWindow(limit=1000),
            sleep=_no_sleep,
            retry=RetryPolicy(first_backoff=0.0),
        )
        try:
            yield fake, client
        finally:
            await client.aclose()


def seed(fake: FakeFiken, count: int) -> None:
    for n in range(count):
        fake.add_journal_entry(
            dt.date(2026, 1, 1) + dt.timedelta(days=n % 50),
            [("6800", 100 + n), (BANK_ACCOUNT_CODE, -(100 + n))],
            f"Postering {n}",
            modified=dt.date(2026, 2, 1) + dt.timedelta(days=n % 20),
        )


async def test_every_page_is_asked_for_with_the_filters_and_counted(
    fiken: tuple[FakeFiken, FikenClient],
) -> None:
    fake, client = fiken
    seed(fake, 250)
    history = FikenHistory(client, DEFAULT_COMPANY)
    query = HistoryQuery(
        start=dt.date(2026, 1, 1), end=dt.date(2026, 2, 28), modified_since=dt.date(2026, 2, 1)
    )
    pages = [page async for page in history.journal_entries(query)]
    assert [len(p.entries) for p in pages] == [100, 100, 50]
    assert {p.total for p in pages} == {250}
    assert [(r.query["page"], r.query["pageSize"]) for r in fake.requests] == [
        ("0", "100"),
        ("1", "100"),
        ("2", "100"),
    ]
    assert fake.requests[0].query["dateGe"] == "2026-01-01"
    assert fake.requests[0].query["dateLe"] == "2026-02-28"
    assert fake.requests[0].query["lastModifiedGe"] == "2026-02-01"
    ids = [e.id for p in pages for e in p.entries]
    assert len(set(ids)) == 250
    # Only what was modified since the mark comes back.
    later = HistoryQuery(start=dt.date(2026, 1, 1), modified_since=dt.date(2026, 2, 20))
    assert sum([len(p.entries) async for p in history.journal_entries(later)]) == 250 // 20


async def test_a_record_of_the_wrong_shape_is_a_problem_with_its_id(
    fiken: tuple[FakeFiken, FikenClient],
) -> None:
    fake, client = fiken
    seed(fake, 3)
    fake.add_raw(
        "journalEntries",
        {"journalEntryId": 4242, "date": "2026-01-02", "lines": [{"amount": 1.5}]},
    )
    pages = [
        page
        async for page in FikenHistory(client, DEFAULT_COMPANY).journal_entries(
            HistoryQuery(start=dt.date(2026, 1, 1))
        )
    ]
    assert [len(p.entries) for p in pages] == [3]
    [problem] = pages[0].problems
    assert (problem.what, problem.id) == ("journal entry", "4242")


@pytest.mark.parametrize("mode", MODES)
async def test_a_broken_answer_imports_nothing_and_is_named_or_reported(
    fiken: tuple[FakeFiken, FikenClient], mode: str
) -> None:
    fake, client = fiken
    seed(fake, 5)
    fake.misbehave.always(mode, method="GET", path=r"/journalEntries$")
    uow_factory = MemoryUnitOfWorkFactory()
    service = BooksImport(uow_factory, FikenHistory(client, DEFAULT_COMPANY), FixedClock())
    if mode == "schema":  # whole, but every record of the wrong shape: each one reported
        report = await service.run("acme", dt.date(2026, 1, 1))
        assert len(report.problems) == 5 and report.imported == 0
    else:
        with pytest.raises(ExternalError) as raised:
            await service.run("acme", dt.date(2026, 1, 1))
        expected = ExternalUnavailable if mode == "truncated" else ExternalAnswerInvalid
        assert isinstance(raised.value, expected), repr(raised.value)
    async with uow_factory() as uow:
        logged = await uow.events.read_all()
    assert [e.type for e in logged] == ([] if mode != "schema" else ["BooksImported"])


async def test_a_refused_token_is_our_named_error(fiken: tuple[FakeFiken, FikenClient]) -> None:
    fake, client = fiken
    fake.token = "another-token"  # the client's is refused: 401
    history = FikenHistory(client, DEFAULT_COMPANY)
    with pytest.raises(ExternalAuthFailed):
        [p async for p in history.sales(HistoryQuery(start=dt.date(2026, 1, 1)))]


async def test_a_record_is_read_by_its_id_and_a_gone_one_is_none(
    fiken: tuple[FakeFiken, FikenClient],
) -> None:
    """GET /journalEntries/{id}, /purchases/{id}, /sales/{id} (the spec's getJournalEntry,
    getPurchase, getSale): one record as a page, a broken one as its problem, a 404 as None."""
    fake, client = fiken
    seed(fake, 1)
    [entry_id] = fake.journal_entries
    sale_id = fake.add_sale(
        dt.date(2026, 1, 5),
        [
            {
                "description": "Kurs",
                "vatType": "HIGH",
                "netPrice": 800,
                "vat": 200,
                "account": "3000",
            }
        ],
        kind="cash_sale",
        payments=[(dt.date(2026, 1, 5), BANK_ACCOUNT_CODE, 1_000)],
    )
    purchase_id = fake.create_purchase(
        {
            "date": "2026-01-06",
            "kind": "cash_purchase",
            "paid": True,
            "currency": "NOK",
            "paymentAccount": BANK_ACCOUNT_CODE,
            "lines": [{"description": "Te", "vatType": "NONE", "netPrice": 300, "account": "7350"}],
        }
    )
    fake.add_raw("sales", {"saleId": 4343, "date": "2026-01-02", "lines": "no"})
    books = FikenHistory(client, DEFAULT_COMPANY)

    entry = await books.record("journal entry", str(entry_id))
    assert entry is not None and [e.id for e in entry.entries] == [str(entry_id)]
    sale = await books.record("sale", str(sale_id))
    assert sale is not None and [(t.what, t.id) for t in sale.trades] == [("sale", str(sale_id))]
    bought = await books.record("purchase", str(purchase_id))
    assert bought is not None and bought.trades[0].lines[0].net == 3
    broken = await books.record("sale", "4343")
    assert broken is not None and not broken.trades
    assert [(p.what, p.id) for p in broken.problems] == [("sale", "4343")]
    assert await books.record("purchase", "999999") is None
    assert await books.record("journal entry", "not-an-id") is None
    asked = [r.path for r in fake.requests if r.method == "GET"]
    assert f"/companies/{DEFAULT_COMPANY}/purchases/999999" in asked
    assert f"/companies/{DEFAULT_COMPANY}/journalEntries/{entry_id}" in asked
