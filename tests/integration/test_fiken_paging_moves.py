"""A Fiken list that changes while the import pages it (ADR 0037 addendum: records that
move between pages). Someone working in Fiken creates or deletes a record between two
page requests; every record after it moves across the page boundary, so a plain
page-by-page read skips one (a deletion before the boundary) or reads one twice (a
creation before it). The loopback fake changes its records before a page is answered.
"""

from __future__ import annotations

import datetime as dt

import pytest

from bookkeeper.adapters.fiken import FikenClient
from bookkeeper.adapters.fiken.history import FikenHistory
from bookkeeper.adapters.memory import MemoryUnitOfWorkFactory
from bookkeeper.application.books_import import BooksImport
from bookkeeper.application.errors import ExternalError
from bookkeeper.application.ports import HistoryQuery
from tests.fakes.fiken import BANK_ACCOUNT_CODE, DEFAULT_COMPANY, FakeFiken
from tests.integration import test_fiken_history
from tests.unit.conftest import FixedClock

START = dt.date(2026, 1, 1)
#: The client on a running fake Fiken, as the history tests have it.
fiken = test_fiken_history.fiken


def _entry(fake: FakeFiken, n: int) -> int:
    return fake.add_journal_entry(
        START + dt.timedelta(days=n % 50),
        [("6800", 100 + n), (BANK_ACCOUNT_CODE, -(100 + n))],
        f"Postering {n}",
    )


def _sale(fake: FakeFiken, n: int) -> int:
    line = {
        "description": f"Salg {n}",
        "vatType": "HIGH",
        "netPrice": 10_000 + n,
        "vat": (10_000 + n) // 4,
        "account": "3000",
    }
    return fake.add_sale(START + dt.timedelta(days=n % 50), [line])


def _first(fake: FakeFiken, what: str, record_id: int) -> None:
    """Move a record to the front of its list (as one dated earlier is listed first)."""
    records = fake.journal_entries if what == "journalEntries" else fake.sales
    moved = {record_id: records.pop(record_id)}
    moved.update(records)
    records.clear()
    records.update(moved)


def _changes(fake: FakeFiken, what: str, at: dict[int, str]) -> list[int]:
    """Before each page named in `at` is first asked for: "delete" the list's 3rd record,
    "create" a record at the front, "both" both (the count stays the same). The ids created."""
    done: set[int] = set()
    created: list[int] = []

    def change(name: str, page: int) -> None:
        if name != what or page not in at or page in done:
            return
        done.add(page)
        records = fake.journal_entries if what == "journalEntries" else fake.sales
        if at[page] in ("delete", "both"):
            del records[list(records)[2]]
        if at[page] in ("create", "both"):
            n = 1000 + len(created)
            new = _entry(fake, n) if what == "journalEntries" else _sale(fake, n)
            _first(fake, what, new)
            created.append(new)

    fake.before_page = change
    return created


async def _ids(history: FikenHistory, what: str) -> list[str]:
    query = HistoryQuery(start=START)
    if what == "journalEntries":
        return [e.id async for page in history.journal_entries(query) for e in page.entries]
    return [t.id async for page in history.sales(query) for t in page.trades]


@pytest.mark.parametrize("what", ["journalEntries", "sales"])
@pytest.mark.parametrize(
    "at",
    [
        {1: "delete"},
        {1: "create"},
        {1: "delete", 2: "delete"},
        {1: "create", 2: "delete"},
        {2: "create", 1: "create"},
    ],
    ids=["deleted", "created", "deleted-twice", "created-then-deleted", "created-twice"],
)
async def test_a_list_that_changes_while_paged_is_read_whole_each_record_once(
    fiken: tuple[FakeFiken, FikenClient], what: str, at: dict[int, str]
) -> None:
    fake, client = fiken
    add = _entry if what == "journalEntries" else _sale
    before = [str(add(fake, n)) for n in range(250)]
    created = _changes(fake, what, at)

    read = await _ids(FikenHistory(client, DEFAULT_COMPANY), what)

    assert len(read) == len(set(read)), "a record read twice"
    # Every record there when the read began was read (a deleted one before it went).
    assert set(before) <= set(read), f"skipped: {sorted(set(before) - set(read))}"
    assert set(read) <= set(before) | {str(c) for c in created}


async def test_the_import_books_each_record_once_when_records_move_between_pages(
    fiken: tuple[FakeFiken, FikenClient],
) -> None:
    fake, client = fiken
    for n in range(150):
        _entry(fake, n)
    created = _changes(fake, "journalEntries", {1: "delete"})
    uow_factory = MemoryUnitOfWorkFactory()
    service = BooksImport(uow_factory, FikenHistory(client, DEFAULT_COMPANY), FixedClock())

    report = await service.run("acme", START)

    assert created == []
    assert report.problems == []
    assert report.records["journal entry"] == 150
    assert (report.imported, report.known) == (150, 0)
    async with uow_factory() as uow:
        posted = [e for e in await uow.events.read_all() if e.type == "JournalEntryPosted"]
    assert len(posted) == 150


async def test_a_list_that_never_stops_changing_is_an_error_not_a_silent_gap(
    fiken: tuple[FakeFiken, FikenClient],
) -> None:
    fake, client = fiken
    for n in range(250):
        _entry(fake, n)

    def keep_deleting(name: str, page: int) -> None:
        if page > 0:
            del fake.journal_entries[next(iter(fake.journal_entries))]

    fake.before_page = keep_deleting
    with pytest.raises(ExternalError, match="kept changing"):
        await _ids(FikenHistory(client, DEFAULT_COMPANY), "journalEntries")
