"""The Fiken adapter against the fake Fiken on a loopback socket: every Books method, the
wire format (øre, Location ids, paging, multipart), error translation, and the limits
(one request at a time, at most 4 in any second) kept under concurrent callers."""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import uuid
from collections.abc import AsyncIterator, Callable
from decimal import Decimal

import httpx
import msgspec
import pytest
import pytest_asyncio

from bookkeeper.adapters.fiken import (
    FikenBooks,
    FikenClient,
    SlidingWindow,
    fiken_books_provider,
)
from bookkeeper.adapters.fiken.history import FikenHistory
from bookkeeper.adapters.fiken.wire import from_ore
from bookkeeper.application.errors import (
    ExternalAnswerInvalid,
    ExternalAuthFailed,
    ExternalNotFound,
    ExternalRateLimited,
    ExternalRejected,
    ExternalUnavailable,
)
from bookkeeper.application.ports import (
    HistoryQuery,
    JournalEntryLineOut,
    NewJournalEntry,
    NewPurchase,
    PurchaseLine,
)
from tests.fakes.contract import FIKEN_SPEC, SpecCheckingTransport, errors, request_errors
from tests.fakes.fiken import (
    BANK_ACCOUNT_CODE,
    DEFAULT_COMPANY,
    DEFAULT_TOKEN,
    JOURNAL_PREFIX,
    FakeFiken,
    FikenServer,
    running_fake_fiken,
    running_fiken_server,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

DAY = dt.date(2026, 3, 14)
#: The client's timeout in the tests of a hang: the hang (until the client disconnects)
#: outlasts it, and no ordinary loopback answer on a loaded machine reaches it (0.2 s did:
#: the request after the hang timed out too and was retried).
HANG_TIMEOUT = 2.0


class RecordingSleep:
    """Back-off without waiting: records what the client asked to sleep."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        await asyncio.sleep(0)


def unlimited() -> SlidingWindow:
    """A window that never makes a test wait (the limit itself has tests of its own)."""
    return SlidingWindow(limit=10_000, window=1.0)


def reference() -> str:
    return f"bk-{uuid.uuid4().hex}"


def cash_purchase(ref: str, *, date: dt.date = DAY, **changes: object) -> NewPurchase:
    purchase = NewPurchase(
        kind="cash_purchase",
        date=date,
        currency="NOK",
        lines=(
            PurchaseLine(
                description="Kontorrekvisita",
                net=Decimal("987.60"),
                vat=Decimal("246.90"),
                vat_type="HIGH",
                account="6800",
            ),
        ),
        reference=ref,
        paid=True,
        payment_account=BANK_ACCOUNT_CODE,
    )
    return msgspec_replace(purchase, **changes)


def msgspec_replace(purchase: NewPurchase, **changes: object) -> NewPurchase:
    return msgspec.structs.replace(purchase, **changes)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server() -> AsyncIterator[FikenServer]:
    """One loopback server for the module (stopping one costs ~0.2 s), a fresh fake per test."""
    async with running_fiken_server() as served:
        yield served


@pytest.fixture
def fiken(server: FikenServer) -> tuple[FakeFiken, str]:
    return server.fresh(), server.base_url


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


@pytest_asyncio.fixture(loop_scope="module")
async def client(fiken: tuple[FakeFiken, str], sleep: RecordingSleep) -> AsyncIterator[FikenClient]:
    _, base_url = fiken
    client = FikenClient(base_url, DEFAULT_TOKEN, timeout=5.0, sleep=sleep, window=unlimited())
    yield client
    await client.aclose()


@pytest.fixture
def fake(fiken: tuple[FakeFiken, str]) -> FakeFiken:
    return fiken[0]


@pytest.fixture
def books(client: FikenClient) -> FikenBooks:
    return FikenBooks(client, DEFAULT_COMPANY)


# --- reads -------------------------------------------------------------------------------


async def test_company_accounts_and_bank_accounts(books: FikenBooks, fake: FakeFiken) -> None:
    company = await books.company()
    assert company.slug == DEFAULT_COMPANY
    assert company.name == "Fiken Demo AS"
    assert company.organization_number == "912345678"
    assert company.has_api_access and company.test_company

    accounts = {account.code: account.name for account in await books.accounts()}
    assert accounts == fake.accounts
    assert accounts["6800"] == "Kontorrekvisita"

    [bank] = await books.bank_accounts()
    assert bank.account_code == BANK_ACCOUNT_CODE
    assert bank.id == "2747365"
    assert bank.bank_account_number == "12345678903"
    assert not bank.inactive


async def test_account_balances_come_back_in_kroner(books: FikenBooks) -> None:
    await books.create_purchase(cash_purchase(reference()))

    before = {row.code: row.balance for row in await books.account_balances(DAY - dt.timedelta(1))}
    after = {row.code: row.balance for row in await books.account_balances(DAY)}

    assert before[BANK_ACCOUNT_CODE] == Decimal("0.00")
    assert after[BANK_ACCOUNT_CODE] == Decimal("-1234.50")
    assert after["6800"] == Decimal("987.60")
    assert after["2710"] == Decimal("246.90")


# --- suppliers ---------------------------------------------------------------------------


async def test_supplier_is_found_by_number_then_by_exact_name(
    books: FikenBooks, fake: FakeFiken
) -> None:
    assert await books.find_supplier("913312465", "Kontorland AS") is None

    created = await books.create_supplier("Kontorland  AS", "913 312 465")

    stored = fake.contacts[int(created.id)]
    assert stored["supplier"] is True
    assert stored["organizationNumber"] == "913312465"
    assert created.name == "Kontorland AS"
    assert created.supplier_account_code == stored["supplierAccountCode"]
    assert (await books.find_supplier("913 312 465", "another name")) == created
    assert (await books.find_supplier(None, "Kontorland AS")) == created
    assert await books.find_supplier(None, "Kontorland") is None  # exact names only


async def test_a_name_longer_than_fiken_takes_is_cut_at_a_word_and_found_again(
    books: FikenBooks, fake: FakeFiken
) -> None:
    """The contact's name has maxLength 200: a longer one is cut at a word with an
    ellipsis, and looked up by that same cut name, so an attempt after a crash finds
    the contact the first one created instead of creating a second."""
    long = "Nordlys   Regnskap og Rådgivning AS " * 8  # 288 characters, spaces collapsed

    created = await books.create_supplier(long, None)

    stored = fake.contacts[int(created.id)]["name"]
    words = " ".join(long.split())
    assert len(stored) <= 200 and stored.endswith("…")
    kept = stored.removesuffix("…")
    assert words.startswith(kept) and words[len(kept)] == " "  # a whole word kept
    assert fake.spec_violations == []
    assert await books.find_supplier(None, long) == created
    assert await books.find_supplier(None, stored) == created  # the name Fiken shows


async def test_a_supplier_without_a_name_is_not_sent(books: FikenBooks, fake: FakeFiken) -> None:
    with pytest.raises(ExternalRejected, match="not sent"):
        await books.create_supplier(" \t ", "913312465")
    assert fake.spec_violations == []
    assert not any(r.method == "POST" for r in fake.requests)


async def test_a_namesake_with_another_organisation_number_is_not_the_supplier(
    books: FikenBooks, fake: FakeFiken
) -> None:
    fake.add_contact("Rema 1000", "811111111")
    fake.add_contact("Rema 1000", "822222222", supplier=False)

    assert await books.find_supplier("833333333", "Rema 1000") is None
    found = await books.find_supplier("811111111", "Rema 1000")
    assert found is not None and found.organization_number == "811111111"


# --- purchases ---------------------------------------------------------------------------


async def test_cash_purchase_goes_out_in_ore_and_is_found_by_its_reference(
    books: FikenBooks, fake: FakeFiken
) -> None:
    ref = reference()
    second = PurchaseLine(
        description="Frakt",
        net=Decimal("0.80"),
        vat=Decimal("0.20"),
        vat_type="HIGH",
        account="6800",
    )
    purchase = cash_purchase(ref)
    purchase = msgspec_replace(purchase, lines=(*purchase.lines, second))

    purchase_id = await books.create_purchase(purchase)

    assert purchase_id == str(next(iter(fake.purchases)))  # from the Location header
    sent = fake.purchase_requests[int(purchase_id)]
    assert sent["kind"] == "cash_purchase"
    assert sent["paid"] is True
    assert sent["paymentAccount"] == BANK_ACCOUNT_CODE
    assert sent["paymentDate"] == DAY.isoformat()
    assert sent["identifier"] == ref  # no document number: the reference stands in
    assert sent["lines"][0] == {
        "description": f"Kontorrekvisita [{ref}]",
        "vatType": "HIGH",
        "netPrice": 98760,
        "vat": 24690,
        "account": "6800",
    }
    assert sent["lines"][1]["description"] == "Frakt"
    assert "supplierId" not in sent and "kid" not in sent

    found = await books.find_purchase(ref, DAY)
    assert found is not None
    assert found.id == purchase_id
    assert found.reference == ref
    assert found.gross == Decimal("1235.50")
    assert (found.kind, found.paid, found.deleted, found.currency) == (
        "cash_purchase",
        True,
        False,
        "NOK",
    )
    assert found.transaction_id is not None


async def test_supplier_invoice_carries_supplier_due_date_kid_and_number(
    books: FikenBooks, fake: FakeFiken
) -> None:
    supplier = await books.create_supplier("Telenor Norge AS", "976967631")
    ref = reference()
    purchase = NewPurchase(
        kind="supplier",
        date=DAY,
        currency="NOK",
        lines=(
            PurchaseLine(
                description="Mobilabonnement mars",
                net=Decimal("399.20"),
                vat=Decimal("99.80"),
                vat_type="HIGH",
                account="6900",
            ),
        ),
        reference=ref,
        identifier="F-2026-0317",
        due_date=DAY + dt.timedelta(days=14),
        supplier_id=supplier.id,
        kid="1234567890128",
    )

    purchase_id = await books.create_purchase(purchase)

    sent = fake.purchase_requests[int(purchase_id)]
    assert sent["supplierId"] == int(supplier.id)
    assert sent["identifier"] == "F-2026-0317"
    assert sent["dueDate"] == "2026-03-28"
    assert sent["kid"] == "1234567890128"
    assert sent["paid"] is False
    found = await books.find_purchase(ref, DAY)
    assert found is not None
    assert (found.supplier_id, found.identifier, found.reference) == (
        supplier.id,
        "F-2026-0317",
        ref,
    )
    assert found.due_date == dt.date(2026, 3, 28)
    assert found.gross == Decimal("499.00")


async def test_a_kid_fiken_would_refuse_is_not_sent(books: FikenBooks, fake: FakeFiken) -> None:
    """An identifier is never cut: a KID that is not 2 to 25 digits (one proposed before
    the proposal checked it) is refused before it is sent, with the reason."""
    for kid in ("1234 5678", "1" * 26, "KID1"):
        purchase = cash_purchase(reference(), kind="supplier", supplier_id="1", kid=kid)
        with pytest.raises(ExternalRejected, match=r"not sent: KID .* 2 to 25 digits"):
            await books.create_purchase(purchase)
    assert fake.requests == []


async def test_a_long_description_is_cut_but_never_the_reference(
    books: FikenBooks, fake: FakeFiken
) -> None:
    ref = reference()
    long = cash_purchase(ref)
    line = msgspec_replace_line(long.lines[0], description="Kaffe og kaker " * 30)

    purchase_id = await books.create_purchase(msgspec_replace(long, lines=(line,)))

    description = fake.purchase_requests[int(purchase_id)]["lines"][0]["description"]
    assert len(description) <= 200
    assert description.endswith(f"… [{ref}]")
    kept = description.removesuffix(f"… [{ref}]")
    assert kept.endswith("kaker") or kept.endswith("og") or kept.endswith("Kaffe")  # a word
    assert fake.spec_violations == []
    found = await books.find_purchase(ref, DAY)
    assert found is not None and found.reference == ref


def msgspec_replace_line(line: PurchaseLine, **changes: object) -> PurchaseLine:
    return msgspec.structs.replace(line, **changes)


async def test_find_purchase_matches_only_our_reference_on_that_date(
    books: FikenBooks, fake: FakeFiken
) -> None:
    mine, other = reference(), reference()
    mine_id = await books.create_purchase(cash_purchase(mine))
    await books.create_purchase(cash_purchase(other))
    await books.create_purchase(cash_purchase(reference(), date=DAY + dt.timedelta(1)))

    found = await books.find_purchase(mine, DAY)

    assert found is not None and found.id == mine_id
    assert await books.find_purchase(mine, DAY + dt.timedelta(1)) is None
    assert await books.find_purchase(reference(), DAY) is None
    [lookup, *_] = [r for r in fake.requests if r.query.get("date") == DAY.isoformat()]
    assert lookup.query["pageSize"] == "100"


async def test_find_purchase_reads_our_reference_on_whichever_line_it_comes_back(
    books: FikenBooks, fake: FakeFiken
) -> None:
    """Our reference goes on the first line sent, and an invoice's identifier is its own
    number; nothing in the spec says Fiken answers the lines in the order they were sent
    (one that lists them by account, say): the lookup after a timeout still finds the
    purchase, instead of registering it a second time."""
    ref = reference()
    first = cash_purchase(ref).lines[0]
    second = msgspec_replace_line(first, description="Frakt", account="6900")
    purchase_id = await books.create_purchase(
        cash_purchase(ref, identifier="F-77", lines=(first, second))
    )
    stored = fake.purchases[int(purchase_id)]
    stored["lines"].reverse()

    found = await books.find_purchase(ref, DAY)

    assert found is not None and found.id == purchase_id
    assert found.reference == ref
    assert found.description == "Kontorrekvisita"


def seed_purchase(fake: FakeFiken, number: int, date: dt.date) -> None:
    """A purchase stored straight in the fake (every tenth from a supplier)."""
    body: dict[str, object] = {
        "date": date.isoformat(),
        "kind": "cash_purchase",
        "paid": True,
        "paymentAccount": BANK_ACCOUNT_CODE,
        "currency": "NOK",
        "lines": [
            {
                "description": f"Kjøp {number} [bk-seed-{number:04d}]",
                "vatType": "HIGH",
                "netPrice": 800 * number,
                "vat": 200 * number,
                "account": "6800",
            }
        ],
    }
    if number % 10 == 0:
        body.update(kind="supplier", paid=False, supplierId=fake.add_contact(f"Lev {number}"))
        del body["paymentAccount"]
    fake.create_purchase(body)


async def test_purchases_reads_every_page(books: FikenBooks, fake: FakeFiken) -> None:
    start, end = dt.date(2026, 2, 1), dt.date(2026, 2, 28)
    for number in range(230):
        seed_purchase(fake, number, start + dt.timedelta(days=number % 28))
    await books.create_purchase(cash_purchase(reference(), date=dt.date(2026, 3, 1)))
    fake.requests.clear()

    found = await books.purchases(start, end)

    assert len(found) == 230
    assert {p.reference for p in found} == {f"bk-seed-{n:04d}" for n in range(230)}
    assert sum(p.gross for p in found) == sum(from_ore(1000 * n) for n in range(230))
    pages = [(r.query["page"], r.query["pageSize"]) for r in fake.requests]
    assert pages == [("0", "100"), ("1", "100"), ("2", "100")]
    assert {r.query["dateGe"] for r in fake.requests} == {"2026-02-01"}
    assert {r.query["dateLe"] for r in fake.requests} == {"2026-02-28"}

    suppliers = await books.purchases(start, end, kind="supplier")
    assert len(suppliers) == 23
    assert all(p.supplier_id is not None for p in suppliers)
    # Named as a person knows them: the supplier, else the line's text without our tag.
    by_reference = {p.reference: p.description for p in found}
    assert by_reference["bk-seed-0010"] == "Lev 10"
    assert by_reference["bk-seed-0011"] == "Kjøp 11"


async def test_a_body_the_spec_refuses_is_rejected_with_fikens_words(
    books: FikenBooks, fake: FakeFiken
) -> None:
    with pytest.raises(ExternalRejected) as refused:
        await books.create_purchase(cash_purchase(reference(), currency="nok"))

    assert type(refused.value) is ExternalRejected
    assert refused.value.status == 400
    assert not refused.value.retryable
    assert "currency: 'nok' does not match '^[A-Z]{3}$'" in refused.value.message

    with pytest.raises(ExternalRejected) as long:
        await books.create_purchase(cash_purchase(reference(), currency="N" * 1000))
    assert "currency" in long.value.message
    assert len(long.value.message) < 600  # the body is cut to 500 characters
    assert fake.purchases == {}


async def test_business_rules_of_fiken_are_rejected(books: FikenBooks, fake: FakeFiken) -> None:
    no_supplier = cash_purchase(reference(), kind="supplier", paid=False, payment_account=None)
    with pytest.raises(ExternalRejected, match="supplierId"):
        await books.create_purchase(no_supplier)
    bad_account = cash_purchase(reference(), payment_account="1920:99999")
    with pytest.raises(ExternalRejected, match="paymentAccount"):
        await books.create_purchase(bad_account)
    assert fake.purchases == {}


async def test_amounts_that_are_not_whole_ore_are_never_sent(
    books: FikenBooks, fake: FakeFiken
) -> None:
    purchase = cash_purchase(reference())
    line = msgspec_replace_line(purchase.lines[0], net=Decimal("10.005"))

    with pytest.raises(ExternalRejected, match="øre"):
        await books.create_purchase(msgspec_replace(purchase, lines=(line,)))

    assert fake.requests == []


async def test_receipt_is_uploaded_as_multipart_and_listed_by_name(
    books: FikenBooks, fake: FakeFiken
) -> None:
    ref = reference()
    purchase_id = await books.create_purchase(cash_purchase(ref))
    pdf = b"%PDF-1.7\n" + bytes(range(256)) + b"\n%%EOF"

    await books.attach_to_purchase(purchase_id, "kvittering.pdf", pdf, "application/pdf")
    await books.attach_to_purchase(purchase_id, "uploads/scan", b"\xff\xd8\xff", "image/jpeg")

    first, second = fake.attachments
    assert (first.purchase_id, first.filename, first.content) == (
        int(purchase_id),
        "kvittering.pdf",
        pdf,
    )
    assert first.content_type == "application/pdf"
    assert first.attach_to_sale and not first.attach_to_payment
    assert second.filename == "scan.jpg"
    found = await books.find_purchase(ref, DAY)
    assert found is not None
    assert found.attachments == ("kvittering.pdf", "scan.jpg")


async def test_a_file_fiken_cannot_take_is_not_sent(books: FikenBooks, fake: FakeFiken) -> None:
    with pytest.raises(ExternalRejected, match="PDF"):
        await books.attach_to_purchase("1001", "notes.txt", b"hello", "text/plain")
    assert fake.requests == []


async def test_delete_reverses_the_purchase(books: FikenBooks, fake: FakeFiken) -> None:
    ref = reference()
    purchase_id = await books.create_purchase(cash_purchase(ref))

    await books.delete_purchase(purchase_id, "Feilregistrert: duplikat")

    assert fake.purchases[int(purchase_id)]["deletedDescription"] == "Feilregistrert: duplikat"
    found = await books.find_purchase(ref, DAY)
    assert found is not None and found.deleted
    balances = {row.code: row.balance for row in await books.account_balances(DAY)}
    assert balances[BANK_ACCOUNT_CODE] == Decimal("0.00")
    with pytest.raises(ExternalNotFound):
        await books.delete_purchase("999999", "finnes ikke")


# --- journal entries ---------------------------------------------------------------------


async def test_journal_entry_goes_out_in_ore_with_the_reference(
    books: FikenBooks, fake: FakeFiken
) -> None:
    ref = reference()
    entry = NewJournalEntry(
        date=DAY,
        description="Periodisering av forsikring " * 10,
        lines=(
            JournalEntryLineOut(amount=Decimal("1000.00"), debit_account="6800", debit_vat_code=1),
            JournalEntryLineOut(amount=Decimal("1250.00"), credit_account=BANK_ACCOUNT_CODE),
        ),
        reference=ref,
    )

    entry_id = await books.create_journal_entry(entry)

    stored = fake.journal_entries[int(entry_id)]
    assert stored["description"].startswith(JOURNAL_PREFIX)
    assert len(stored["description"]) <= 200
    assert stored["description"].endswith(f"[{ref}]")
    [sent] = fake.journal_entry_requests[0]["journalEntries"]
    assert sent["date"] == DAY.isoformat()
    assert sent["lines"] == [
        {"amount": 100000, "debitAccount": "6800", "debitVatCode": 1},
        {"amount": 125000, "creditAccount": BANK_ACCOUNT_CODE},
    ]


async def test_a_journal_entry_is_found_again_by_its_reference_live_before_cancelled(
    books: FikenBooks, fake: FakeFiken
) -> None:
    """ADR 0054: a credit note's entry is looked up by the reference ending its description
    (after Fiken's prefix), on its date; a cancelled one is said to be cancelled, and a live
    one with the same reference wins over it. The fake derives the credited VAT."""
    ref = reference()
    cancelled = fake.add_journal_entry(
        DAY, [("2400", 1000), ("6800", -1000)], f"{JOURNAL_PREFIX}Gammel [{ref}]", cancelled=True
    )
    found = await books.find_journal_entry(ref, DAY)
    assert found is not None and (found.id, found.cancelled) == (str(cancelled), True)
    entry = NewJournalEntry(
        date=DAY,
        description="Kreditnota K-1",
        lines=(
            JournalEntryLineOut(amount=Decimal("1250.00"), debit_account="2400"),
            JournalEntryLineOut(
                amount=Decimal("1250.00"), credit_account="6800", credit_vat_code=1
            ),
        ),
        reference=ref,
    )
    entry_id = await books.create_journal_entry(entry)
    found = await books.find_journal_entry(ref, DAY)
    assert found is not None and (found.id, found.cancelled) == (entry_id, False)
    assert await books.find_journal_entry(ref, DAY + dt.timedelta(days=1)) is None
    assert await books.find_journal_entry(reference(), DAY) is None
    posted = [(a, n) for d, a, n in fake.postings if d == DAY]
    assert sorted(posted[-3:]) == [("2400", 125000), ("2710", -25000), ("6800", -100000)]


async def test_the_fake_answers_in_the_documented_shapes(
    books: FikenBooks, fake: FakeFiken
) -> None:
    """The fake's answers conform to the spec too, so the adapter is not tested against
    shapes only the fake would send."""
    supplier = await books.create_supplier("Kontorland AS", "913312465")
    invoice = cash_purchase(
        reference(), kind="supplier", paid=False, payment_account=None, supplier_id=supplier.id
    )
    purchase_id = await books.create_purchase(invoice)
    await books.attach_to_purchase(purchase_id, "faktura.pdf", b"%PDF", "application/pdf")
    await books.create_journal_entry(
        NewJournalEntry(
            date=DAY,
            description="Avskrivning",
            lines=(JournalEntryLineOut(amount=Decimal("10"), debit_account="6800"),),
            reference=reference(),
        )
    )

    shapes = [
        ("company", fake.company),
        *(("contact", c) for c in fake.contacts.values()),
        *(("purchaseResult", p) for p in fake.purchases.values()),
        *(("journalEntry", j) for j in fake.journal_entries.values()),
        *(("bankAccountResult", b) for b in fake.bank_accounts),
        *(("accountBalance", b) for b in fake.balances(DAY)),
    ]
    assert {name for name, _ in shapes} == {
        "company",
        "contact",
        "purchaseResult",
        "journalEntry",
        "bankAccountResult",
        "accountBalance",
    }
    problems = [(name, errors(FIKEN_SPEC, name, body)) for name, body in shapes]
    assert [(name, found) for name, found in problems if found] == []


# --- errors ------------------------------------------------------------------------------


async def test_5xx_on_a_post_is_unavailable_and_not_repeated(
    books: FikenBooks, fake: FakeFiken
) -> None:
    fake.fail_next(1, 503, method="POST")

    with pytest.raises(ExternalUnavailable) as failed:
        await books.create_purchase(cash_purchase(reference()))

    assert failed.value.status == 503 and failed.value.retryable
    assert [r.method for r in fake.requests] == ["POST"]
    assert fake.purchases == {}


async def test_5xx_on_a_read_is_retried_then_reported(
    books: FikenBooks, fake: FakeFiken, sleep: RecordingSleep
) -> None:
    fake.fail_next(2, 502, method="GET")
    assert (await books.company()).slug == DEFAULT_COMPANY
    assert sleep.calls == [0.5, 1.0]

    fake.fail_next(10, 500, method="GET")
    with pytest.raises(ExternalUnavailable) as failed:
        await books.company()
    assert failed.value.status == 500
    assert len(fake.requests) == 3 + 3


async def test_a_read_answered_503_with_retry_after_waits_that_long(
    books: FikenBooks, fake: FakeFiken, sleep: RecordingSleep
) -> None:
    """A 5xx's Retry-After (RFC 9110) is the wait before the read is tried again, and one
    longer than the client waits is handed to the caller at once (not asked again at
    0.5 s and 1 s of a Fiken that said it is down for ten minutes)."""
    fake.fail_next(1, 503, method="GET", retry_after=3)
    await books.company()
    assert sleep.calls == [3.0]

    fake.fail_next(1, 503, method="GET", retry_after=600)
    with pytest.raises(ExternalUnavailable) as down:
        await books.company()
    assert down.value.retry_after == 600
    assert sleep.calls == [3.0]
    assert [r.status for r in fake.requests] == [503, 200, 503]


async def test_429_honours_retry_after_then_succeeds(
    books: FikenBooks, fake: FakeFiken, sleep: RecordingSleep
) -> None:
    fake.rate_limit_next(2, retry_after=7)

    purchase_id = await books.create_purchase(cash_purchase(reference()))

    assert sleep.calls == [7.0, 7.0]
    assert [r.status for r in fake.requests] == [429, 429, 201]
    assert list(fake.purchases) == [int(purchase_id)]


async def test_429_forever_is_rate_limited_after_backing_off(
    books: FikenBooks, fake: FakeFiken, sleep: RecordingSleep
) -> None:
    fake.rate_limit_next(100)

    with pytest.raises(ExternalRateLimited) as limited:
        await books.accounts()

    assert limited.value.retryable and limited.value.retry_after is None
    assert sleep.calls == [0.5, 1.0, 2.0]
    assert len(fake.requests) == 4


async def test_a_long_retry_after_is_handed_to_the_caller(
    books: FikenBooks, fake: FakeFiken, sleep: RecordingSleep
) -> None:
    fake.rate_limit_next(1, retry_after=120)

    with pytest.raises(ExternalRateLimited) as limited:
        await books.company()

    assert limited.value.retry_after == 120
    assert sleep.calls == []
    assert len(fake.requests) == 1


async def test_a_wrong_token_is_auth_failed_and_never_shown(fiken: tuple[FakeFiken, str]) -> None:
    _, base_url = fiken
    secret = "not-the-token-" + uuid.uuid4().hex
    client = FikenClient(base_url, secret, window=unlimited())
    try:
        with pytest.raises(ExternalAuthFailed) as denied:
            await FikenBooks(client, DEFAULT_COMPANY).company()
    finally:
        await client.aclose()
    assert denied.value.status == 401
    assert secret not in str(denied.value)


async def test_403_is_auth_failed_and_an_unknown_company_not_found(
    client: FikenClient, fake: FakeFiken
) -> None:
    fake.fail_next(1, 403)
    with pytest.raises(ExternalAuthFailed):
        await FikenBooks(client, DEFAULT_COMPANY).company()
    with pytest.raises(ExternalNotFound) as missing:
        await FikenBooks(client, "no-such-company").company()
    assert missing.value.status == 404


async def test_connection_refused_is_unavailable(sleep: RecordingSleep) -> None:
    client = FikenClient("http://127.0.0.1:9/api/v2", DEFAULT_TOKEN, sleep=sleep)
    try:
        with pytest.raises(ExternalUnavailable, match="ConnectError"):
            await FikenBooks(client, DEFAULT_COMPANY).company()
    finally:
        await client.aclose()


async def test_timeout_after_commit_is_unavailable_and_reconciled_by_reference(
    fiken: tuple[FakeFiken, str], sleep: RecordingSleep
) -> None:
    fake, base_url = fiken
    client = FikenClient(
        base_url, DEFAULT_TOKEN, timeout=HANG_TIMEOUT, sleep=sleep, window=unlimited()
    )
    books = FikenBooks(client, DEFAULT_COMPANY)
    ref = reference()
    fake.commit_then_hang(1, method="POST", path=r"/purchases$")
    try:
        with pytest.raises(ExternalUnavailable, match="timed out"):
            await books.create_purchase(cash_purchase(ref))

        found = await books.find_purchase(ref, DAY)
    finally:
        await client.aclose()

    [committed] = fake.purchases_with_reference(ref)
    assert found is not None and found.id == str(committed["purchaseId"])
    assert len(fake.purchases) == 1
    assert [r.method for r in fake.requests] == ["POST", "GET"]  # the POST was not repeated
    assert fake.concurrent_violations == 0


async def test_a_read_that_hangs_is_retried(
    fiken: tuple[FakeFiken, str], sleep: RecordingSleep
) -> None:
    fake, base_url = fiken
    client = FikenClient(
        base_url, DEFAULT_TOKEN, timeout=HANG_TIMEOUT, sleep=sleep, window=unlimited()
    )
    fake.hang_next(1, method="GET")
    try:
        assert (await FikenBooks(client, DEFAULT_COMPANY).company()).slug == DEFAULT_COMPANY
    finally:
        await client.aclose()
    assert [r.fault for r in fake.requests] == ["hang", None]


async def test_every_request_has_its_own_request_id(books: FikenBooks, fake: FakeFiken) -> None:
    await books.company()
    await books.accounts()
    await books.create_purchase(cash_purchase(reference()))

    ids = [r.request_id for r in fake.requests]
    assert len(ids) == 3 and len(set(ids)) == 3
    assert all(uuid.UUID(str(request_id)).version == 4 for request_id in ids)


# --- limits ------------------------------------------------------------------------------


async def test_concurrent_callers_never_overlap_or_exceed_the_window(
    fiken: tuple[FakeFiken, str],
) -> None:
    fake, base_url = fiken
    window = SlidingWindow(limit=4, window=0.05)
    client = FikenClient(base_url, DEFAULT_TOKEN, window=window)
    books = FikenBooks(client, DEFAULT_COMPANY)
    refs = [reference() for _ in range(8)]
    try:
        await asyncio.gather(
            *(books.create_purchase(cash_purchase(ref)) for ref in refs),
            *(books.company() for _ in range(4)),
            *(books.accounts() for _ in range(4)),
            *(books.find_purchase(ref, DAY) for ref in refs[:4]),
        )
    finally:
        await client.aclose()

    assert len(fake.requests) == 20
    assert fake.concurrent_violations == 0
    assert fake.max_in_flight == 1
    assert fake.max_requests_in_any_window(0.05) <= 4
    assert all(len(fake.purchases_with_reference(ref)) == 1 for ref in refs)


async def test_the_real_limit_keeps_four_requests_in_any_second(
    fiken: tuple[FakeFiken, str],
) -> None:
    fake, base_url = fiken
    client = FikenClient(base_url, DEFAULT_TOKEN)  # the production limit: 4 per second
    books = FikenBooks(client, DEFAULT_COMPANY)
    try:
        await asyncio.gather(*(books.company() for _ in range(10)))
    finally:
        await client.aclose()

    assert len(fake.requests) == 10
    assert fake.concurrent_violations == 0
    assert fake.max_requests_in_any_second() == 4  # no more, and not needlessly fewer


async def test_the_fake_notices_concurrent_requests(fiken: tuple[FakeFiken, str]) -> None:
    """The detector the tests above rely on: a second request while one is in flight is
    counted and answered 429, as Fiken does."""
    fake, base_url = fiken
    fake.hang_next(1, seconds=60.0, path=r"/accounts$")  # until the client gives up
    headers = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=HANG_TIMEOUT) as raw:
        hanging = asyncio.create_task(raw.get(f"/companies/{DEFAULT_COMPANY}/accounts"))
        await fake.arrived(1)
        second = await raw.get(f"/companies/{DEFAULT_COMPANY}")
        with pytest.raises(httpx.ReadTimeout):
            await hanging

    assert second.status_code == 429
    assert fake.concurrent_violations == 1


async def test_the_provider_shares_one_client_for_every_tenant() -> None:
    async with running_fake_fiken(company="acme-as") as (fake, base_url):
        provider, close = fiken_books_provider(base_url, DEFAULT_TOKEN, "acme-as")
        try:
            first, second = provider("tenant-a"), provider("tenant-b")
            assert first is second
            assert first.name == "fiken"
            assert (await first.company()).slug == "acme-as"
        finally:
            await close()
    assert len(fake.requests) == 1


async def test_a_document_is_attached_to_a_journal_entry_and_listed_by_name(
    books: FikenBooks, fake: FakeFiken
) -> None:
    """ADR 0054 addendum: addAttachmentToJournalEntry takes the file and its name as
    multipart fields (no attachToSale/attachToPayment); the entry lists it back, so a
    retry sees it is there."""
    ref = reference()
    entry = NewJournalEntry(
        date=DAY,
        description="Kreditnota K-2",
        lines=(
            JournalEntryLineOut(amount=Decimal("500.00"), debit_account="2400"),
            JournalEntryLineOut(amount=Decimal("500.00"), credit_account="6800"),
        ),
        reference=ref,
    )
    entry_id = await books.create_journal_entry(entry)
    found = await books.find_journal_entry(ref, DAY)
    assert found is not None and found.attachments == ()
    pdf = b"%PDF-1.7\n" + bytes(range(256)) + b"\n%%EOF"

    await books.attach_to_journal_entry(entry_id, f"{ref}.pdf", pdf, "application/pdf")

    [upload] = fake.attachments
    assert (upload.journal_entry_id, upload.purchase_id) == (int(entry_id), None)
    assert (upload.filename, upload.content, upload.content_type) == (
        f"{ref}.pdf",
        pdf,
        "application/pdf",
    )
    found = await books.find_journal_entry(ref, DAY)
    assert found is not None and found.attachments == (f"{ref}.pdf",)
    with pytest.raises(ExternalNotFound):
        await books.attach_to_journal_entry("999999", "k.pdf", pdf, "application/pdf")
    with pytest.raises(ExternalRejected, match="PDF"):
        await books.attach_to_journal_entry(entry_id, "notes.txt", b"hello", "text/plain")
    assert len(fake.attachments) == 1


async def test_every_request_the_adapter_makes_is_one_the_spec_allows(
    fiken: tuple[FakeFiken, str], sleep: RecordingSleep
) -> None:
    """A fake generated from the spec (or Fiken itself) refuses what the spec does not
    allow: every Books and history method's requests (paths, path and query parameters
    with their types and formats, JSON bodies with readOnly fields refused, multipart
    field names) are checked against the operation they call."""
    fake, base_url = fiken
    checked = SpecCheckingTransport(FIKEN_SPEC, "/api/v2")
    client = FikenClient(
        base_url, DEFAULT_TOKEN, timeout=5.0, sleep=sleep, window=unlimited(), transport=checked
    )
    books = FikenBooks(client, DEFAULT_COMPANY)
    history = FikenHistory(client, DEFAULT_COMPANY)
    pdf = b"%PDF-1.7\n%%EOF"
    try:
        await books.company()
        await books.accounts()
        await books.account_balances(DAY)
        await books.bank_accounts()
        supplier = await books.create_supplier("Telenor Norge AS", "976 967 631")
        assert await books.find_supplier("976967631", "Telenor Norge AS") is not None
        assert await books.find_supplier(None, "Telenor Norge AS") is not None
        ref = reference()
        purchase_id = await books.create_purchase(cash_purchase(ref))
        await books.create_purchase(
            cash_purchase(
                reference(),
                kind="supplier",
                paid=False,
                payment_account=None,
                supplier_id=supplier.id,
                due_date=DAY + dt.timedelta(days=14),
                identifier="F-1",
                kid="1234567890128",
            )
        )
        assert await books.find_purchase(ref, DAY) is not None
        await books.purchases(DAY, DAY, "cash_purchase")
        await books.attach_to_purchase(purchase_id, "kvittering.pdf", pdf, "application/pdf")
        await books.delete_purchase(purchase_id, "Feilført")
        entry_ref = reference()
        entry_id = await books.create_journal_entry(
            NewJournalEntry(
                date=DAY,
                description="Periodisering",
                lines=(
                    JournalEntryLineOut(
                        amount=Decimal("100.00"), debit_account="6800", debit_vat_code=1
                    ),
                    JournalEntryLineOut(amount=Decimal("125.00"), credit_account="1920:10001"),
                ),
                reference=entry_ref,
            )
        )
        assert await books.find_journal_entry(entry_ref, DAY) is not None
        await books.attach_to_journal_entry(entry_id, "bilag.pdf", pdf, "application/pdf")
        # Every text beyond the spec's maxLength (name, descriptions): cut, still allowed.
        long = "Nordlys Regnskap og Rådgivning AS avdeling Trondheim " * 6
        long_supplier = await books.create_supplier(long, None)
        assert await books.find_supplier(None, long) == long_supplier
        long_line = PurchaseLine(
            description=long,
            net=Decimal("10.00"),
            vat=Decimal("2.50"),
            vat_type="HIGH",
            account="6800",
        )
        long_id = await books.create_purchase(
            cash_purchase(reference(), lines=(long_line, long_line))
        )
        await books.delete_purchase(long_id, long)
        await books.create_journal_entry(
            NewJournalEntry(
                date=DAY,
                description=long,
                lines=(
                    JournalEntryLineOut(amount=Decimal("1.00"), debit_account="6800"),
                    JournalEntryLineOut(amount=Decimal("1.00"), credit_account="1920:10001"),
                ),
                reference=reference(),
            )
        )
        fake.add_sale(DAY, [{"description": "Salg", "vatType": "HIGH", "netPrice": 100}])
        query = HistoryQuery(
            start=DAY - dt.timedelta(days=30),
            end=DAY,
            modified_since=DAY - dt.timedelta(days=1),
            dated_since=DAY - dt.timedelta(days=2),
            settled_since=DAY - dt.timedelta(days=3),
        )
        for pages in (history.journal_entries, history.sales, history.purchases):
            assert [page async for page in pages(query)]
        for what, record_id in (("purchase", purchase_id), ("journal entry", entry_id)):
            assert await history.record(what, record_id) is not None
    finally:
        await client.aclose()

    assert checked.problems == []
    assert len(checked.seen) >= 20
    # and the check has teeth: an unknown query parameter, a bad date, a missing body
    assert request_errors(
        FIKEN_SPEC,
        "GET",
        f"/companies/{DEFAULT_COMPANY}/purchases",
        [("date", "14.03.2026")],
        {},
        b"",
    )
    assert request_errors(
        FIKEN_SPEC, "GET", f"/companies/{DEFAULT_COMPANY}/purchases", [("fromDate", "x")], {}, b""
    )
    assert request_errors(
        FIKEN_SPEC, "POST", f"/companies/{DEFAULT_COMPANY}/purchases", [], {}, b""
    )
    # … and the spec's limits on strings: maxLength and minLength in a JSON body
    contacts = f"/companies/{DEFAULT_COMPANY}/contacts"
    json_type = {"content-type": "application/json"}
    for name, refused in (("x" * 200, False), ("x" * 201, True), ("", True)):
        body = msgspec.json.encode({"name": name, "supplier": True})
        found = request_errors(FIKEN_SPEC, "POST", contacts, [], json_type, body)
        assert bool(found) is refused, (len(name), found)
    # and a purchase line's description (orderLine.description, maxLength 200)
    purchases = f"/companies/{DEFAULT_COMPANY}/purchases"
    line = {"description": "x" * 201, "vatType": "HIGH", "netPrice": 100}
    body = msgspec.json.encode(
        {
            "date": "2026-03-14",
            "kind": "cash_purchase",
            "paid": False,
            "currency": "NOK",
            "lines": [line],
        }
    )
    assert any(
        "lines/0/description" in problem and "too long" in problem
        for problem in request_errors(FIKEN_SPEC, "POST", purchases, [], json_type, body)
    )


async def test_a_paid_foreign_currency_purchase_says_what_was_paid_in_nok(
    books: FikenBooks, fake: FakeFiken
) -> None:
    """purchaseRequest.paymentAmountInNok: "Required when creating a purchase with payment
    in a foreign currency" — the NOK that left the bank account, here the lines' NOK
    amounts at the rate recorded with the proposal."""
    ref = reference()
    line = PurchaseLine(
        description="Figma",
        net=Decimal("12.00"),
        vat=Decimal("3.00"),
        vat_type="HIGH",
        account="6800",
        net_nok=Decimal("139.20"),
        vat_nok=Decimal("34.80"),
    )
    purchase_id = await books.create_purchase(
        cash_purchase(ref, currency="EUR", lines=(line, line))
    )

    sent = fake.purchase_requests[int(purchase_id)]
    assert sent["paymentAmountInNok"] == 2 * (13920 + 3480)
    assert [(s["netPrice"], s["netPriceInCurrency"]) for s in sent["lines"]] == [(13920, 1200)] * 2

    # Without the NOK amounts there is nothing to say, and Fiken refuses it.
    unknown = msgspec_replace_line(line, net_nok=None, vat_nok=None)
    with pytest.raises(ExternalRejected, match="paymentAmountInNok") as refused:
        await books.create_purchase(cash_purchase(reference(), currency="EUR", lines=(unknown,)))
    assert refused.value.status == 400
    assert len(fake.purchase_requests) == 1


@pytest.mark.parametrize("named", ["journalEntries", "transactions", "generalJournalEntries"])
async def test_a_journal_entry_is_known_by_its_id_whatever_the_location_names(
    books: FikenBooks, fake: FakeFiken, named: str
) -> None:
    """The spec's Location of POST /generalJournalEntries is the "Full URL of newly created
    General Journal Entry", which it has no path for: a counterpart may name the journal
    entry, its transaction or an id of its own. The id handed back is the journalEntryId
    (the attachment goes to /journalEntries/{id}/attachments), looked up by our reference
    when the Location is not a journal entry's."""
    fake.journal_entry_location = named
    ref = reference()
    entry = NewJournalEntry(
        date=DAY,
        description="Kreditnota K-3",
        lines=(
            JournalEntryLineOut(amount=Decimal("500.00"), debit_account="2400"),
            JournalEntryLineOut(amount=Decimal("500.00"), credit_account="6800"),
        ),
        reference=ref,
    )

    entry_id = await books.create_journal_entry(entry)

    [(journal_entry_id, stored)] = fake.journal_entries.items()
    assert entry_id == str(journal_entry_id)
    await books.attach_to_journal_entry(entry_id, "k3.pdf", b"%PDF-1.7", "application/pdf")
    assert [a.journal_entry_id for a in fake.attachments] == [journal_entry_id]
    assert stored["attachments"]


def answering(
    handler: Callable[[httpx.Request], httpx.Response], sleep: RecordingSleep
) -> FikenClient:
    """A client whose Fiken is `handler` (httpx.MockTransport): answers our fake never
    gives, which a counterpart written from the same spec may."""
    return FikenClient(
        "https://fiken.test/api/v2",
        DEFAULT_TOKEN,
        sleep=sleep,
        window=unlimited(),
        transport=httpx.MockTransport(handler),
    )


@pytest.mark.parametrize(
    ("status", "location", "body"),
    [
        (201, "https://api.fiken.no/api/v2/companies/x/purchases/77", b""),
        (201, "/api/v2/companies/x/purchases/77", b""),  # relative
        (201, "https://api.fiken.no/api/v2/companies/x/purchases/77/?a=b", b""),
        (201, "https://api.fiken.no/api/v2/companies/x/purchases/77", b'{"purchaseId": 77}'),
        (200, "companies/x/purchases/77", b"{}"),
    ],
)
async def test_the_new_id_is_read_from_any_location_the_spec_allows(
    sleep: RecordingSleep, status: int, location: str, body: bytes
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"Location": location, "Content-Type": "application/json; charset=utf-8"}
        return httpx.Response(status, headers=headers, content=body)

    client = answering(handler, sleep)
    try:
        assert await FikenBooks(client, "x").create_purchase(cash_purchase(reference())) == "77"
    finally:
        await client.aclose()


async def test_a_journal_entry_the_location_does_not_name_and_no_list_has_is_unavailable(
    sleep: RecordingSleep,
) -> None:
    """Something was created, but which entry cannot be told: ExternalUnavailable, so the
    executor reconciles by reference later instead of booking it twice."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(201, headers={"Location": "/companies/x/transactions/9"})
        return httpx.Response(200, json=[])

    client = answering(handler, sleep)
    entry = NewJournalEntry(
        date=DAY,
        description="Kreditnota",
        lines=(
            JournalEntryLineOut(amount=Decimal("1.00"), debit_account="2400"),
            JournalEntryLineOut(amount=Decimal("1.00"), credit_account="6800"),
        ),
        reference=reference(),
    )
    try:
        with pytest.raises(ExternalUnavailable, match="names no journal entry"):
            await FikenBooks(client, "x").create_journal_entry(entry)
    finally:
        await client.aclose()


def _accounts(count: int) -> list[dict[str, str]]:
    return [{"code": str(1000 + n), "name": f"Konto {n}"} for n in range(count)]


@pytest.mark.parametrize(("count", "requests"), [(150, 1), (100, 2), (40, 1)])
async def test_a_counterpart_that_does_not_page_is_read_once(
    sleep: RecordingSleep, count: int, requests: int
) -> None:
    """A list answered whole, whatever page and pageSize say, without the Fiken-Api-Page
    headers (which the spec does not make required): more than a page is the whole list,
    and a page answered again is the end, never the same records over and over."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.params["page"])
        return httpx.Response(200, json=_accounts(count))

    client = answering(handler, sleep)
    try:
        found = await FikenBooks(client, "x").accounts()
    finally:
        await client.aclose()

    assert [a.code for a in found] == [str(1000 + n) for n in range(count)]
    assert len(seen) == requests


async def test_pages_are_read_by_the_headers_or_until_a_short_one(sleep: RecordingSleep) -> None:
    """Paging as the spec has it, with the headers and without them (a short page ends it)."""
    rows = _accounts(250)

    def handler(request: httpx.Request) -> httpx.Response:
        page, size = int(request.url.params["page"]), int(request.url.params["pageSize"])
        headers = {} if page % 2 else {"Fiken-Api-Page-Count": "3", "Fiken-Api-Page": str(page)}
        return httpx.Response(200, json=rows[page * size : (page + 1) * size], headers=headers)

    client = answering(handler, sleep)
    try:
        found = await FikenBooks(client, "x").accounts()
    finally:
        await client.aclose()
    assert len(found) == 250


async def test_a_counterpart_that_pages_smaller_than_asked_is_read_to_the_end(
    sleep: RecordingSleep,
) -> None:
    """The spec: a page holds "up to Fiken-Api-Page-Size elements", the header saying the
    size it paged by. A counterpart that caps pageSize below our 100 (its default is 25)
    and says so, without Fiken-Api-Page-Count, has full pages of 25: read on until a
    shorter one, not stopped after the first (75 of 100 records lost, silently)."""
    rows = _accounts(100)
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        seen.append(str(page))
        headers = {"Fiken-Api-Page": str(page), "Fiken-Api-Page-Size": "25"}
        return httpx.Response(200, json=rows[page * 25 : (page + 1) * 25], headers=headers)

    client = answering(handler, sleep)
    try:
        found = await FikenBooks(client, "x").accounts()
    finally:
        await client.aclose()
    assert len(found) == 100
    assert seen == ["0", "1", "2", "3", "4"]  # the fifth, empty, ends it


@pytest.mark.parametrize("page_count", [None, "1"])
async def test_a_list_is_read_until_it_has_as_many_records_as_fiken_counts(
    sleep: RecordingSleep, page_count: str | None
) -> None:
    """A counterpart paging at 25 of its own that says only how many records there are
    (Fiken-Api-Result-Count: 100), or also a page count for the 100 asked for (1): the
    records counted are read (four pages), not the first 25 with 75 lost silently."""
    rows = _accounts(100)
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        seen.append(str(page))
        headers = {"Fiken-Api-Page": str(page), "Fiken-Api-Result-Count": "100"}
        if page_count is not None:
            headers["Fiken-Api-Page-Count"] = page_count
        return httpx.Response(200, json=rows[page * 25 : (page + 1) * 25], headers=headers)

    client = answering(handler, sleep)
    try:
        found = await FikenBooks(client, "x").accounts()
    finally:
        await client.aclose()
    assert len(found) == 100
    assert seen == ["0", "1", "2", "3"]


async def test_optional_fields_answered_as_null_are_read_as_absent(sleep: RecordingSleep) -> None:
    """A counterpart whose models serialise an unset optional field as null (FastAPI with
    models generated from the spec does by default) must not fail the whole list: null
    where the spec has an optional field is read as the field left out. A null where it
    requires a value stays a broken answer."""
    purchase = {
        "purchaseId": 7,
        "transactionId": None,
        "identifier": None,
        "date": "2026-03-14",
        "dueDate": None,
        "kind": "cash_purchase",
        "paid": True,
        "lines": [
            {
                "description": "Kontorrekvisita [bk-null-1]",
                "vatType": "HIGH",
                "netPrice": 80000,
                "vat": 20000,
                "account": "6800",
                "netPriceInCurrency": None,
                "vatInCurrency": None,
            }
        ],
        "supplier": None,
        "currency": "NOK",
        "payments": None,
        "purchaseAttachments": None,
        "deleted": None,
        "settled": None,
        "settledDate": None,
    }
    contact = {
        "contactId": 3,
        "name": "Telenor Norge AS",
        "organizationNumber": "976967631",
        "supplierAccountCode": None,
        "supplier": True,
        "inactive": None,
        "email": None,
    }
    bodies = {
        "/api/v2/companies/x": {"slug": "x", "name": None, "hasApiAccess": None, "vatType": None},
        "/api/v2/companies/x/purchases": [purchase],
        "/api/v2/companies/x/purchases/7": purchase,
        "/api/v2/companies/x/contacts": [contact],
        "/api/v2/companies/x/bankAccounts": [
            {"bankAccountId": 1, "accountCode": "1920:10001", "name": None, "inactive": None}
        ],
    }

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=bodies[request.url.path])

    client = answering(handler, sleep)
    books = FikenBooks(client, "x")
    try:
        assert (await books.company()).name == ""
        found = await books.find_purchase("bk-null-1", DAY)
        supplier = await books.find_supplier("976967631", "Telenor")
        [bank] = await books.bank_accounts()
        page = await FikenHistory(client, "x").record("purchase", "7")
        bodies["/api/v2/companies/x/purchases"] = [{**purchase, "date": None}]
        with pytest.raises(ExternalAnswerInvalid, match="date"):
            await books.find_purchase("bk-null-1", DAY)
    finally:
        await client.aclose()

    assert found is not None and (found.id, found.gross, found.deleted) == ("7", 1000, False)
    assert supplier is not None and supplier.id == "3"
    assert (bank.account_code, bank.inactive) == ("1920:10001", False)
    assert page is not None and [t.id for t in page.trades] == ["7"] and not page.problems


def _http_date(seconds: float) -> str:
    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)
    return email.utils.format_datetime(when, usegmt=True)


@pytest.mark.parametrize(
    ("first", "waited"),
    [
        (httpx.Response(429, headers={"Retry-After": "3"}), (2.9, 3.0)),
        (httpx.Response(429, headers={"Retry-After": "<a date 20 s ahead>"}), (1.0, 20.0)),
        (httpx.Response(429), (0.5, 0.5)),  # none: our own back-off
        (httpx.Response(429, headers={"Retry-After": "soon"}), (0.5, 0.5)),
        (httpx.Response(503, html="<html><body><h1>503</h1></body></html>"), (0.5, 0.5)),
        # A 5xx's Retry-After says how long the outage lasts (RFC 9110): waited as told.
        (httpx.Response(502, text="Bad gateway", headers={"Retry-After": "1"}), (1.0, 1.0)),
    ],
)
async def test_a_refusal_in_any_form_the_spec_allows_is_waited_out_on_a_read(
    sleep: RecordingSleep, first: httpx.Response, waited: tuple[float, float]
) -> None:
    """429 with Retry-After in seconds, as an HTTP date, without one or unreadable; a 5xx
    with an HTML body, or with Retry-After: a read waits (as told, else its own back-off)
    and asks again."""
    if first.headers.get("Retry-After", "").startswith("<"):  # the date when the test runs
        first = httpx.Response(429, headers={"Retry-After": _http_date(20)})
    answers = [first, httpx.Response(200, json={"slug": "x", "name": "Demo AS"})]

    def handler(request: httpx.Request) -> httpx.Response:
        return answers.pop(0)

    client = answering(handler, sleep)
    try:
        assert (await FikenBooks(client, "x").company()).name == "Demo AS"
    finally:
        await client.aclose()
    [pause] = sleep.calls
    assert waited[0] <= pause <= waited[1]


async def test_a_5xx_with_an_html_body_is_unavailable_with_a_short_message(
    sleep: RecordingSleep,
) -> None:
    page = "<html><head><title>Oops</title></head><body>" + "x" * 10_000 + "</body></html>"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, html=page)

    client = answering(handler, sleep)
    try:
        with pytest.raises(ExternalUnavailable) as failed:
            await FikenBooks(client, "x").accounts()
    finally:
        await client.aclose()
    assert failed.value.status == 500 and len(str(failed.value)) < 300


async def test_records_without_what_the_spec_leaves_optional_are_passed_over(
    sleep: RecordingSleep,
) -> None:
    """The spec requires no id (purchaseId, contactId, journalEntryId, bankAccountId), no
    account code and no company slug in its answers. A record that lacks what makes it
    usable is passed over, not the whole list failed; the company keeps the slug it was
    asked by, a contact just created the id its Location gave. One that lacks its id but
    carries our reference cannot be told apart: that stays a broken answer (never a
    second purchase)."""
    ours = {
        "purchaseId": 7,
        "date": "2026-03-14",
        "kind": "cash_purchase",
        "paid": True,
        "currency": "NOK",
        "lines": [{"description": "Rekvisita [bk-mine-1]", "vatType": "HIGH", "netPrice": 100}],
    }
    idless = {**ours, "lines": [{"description": "Annet", "vatType": "HIGH", "netPrice": 5}]}
    del idless["purchaseId"]
    entry = {"journalEntryId": 9, "description": "Fri postering [bk-je-1]", "date": "2026-03-14"}
    bodies: dict[str, object] = {
        "/api/v2/companies/x": {"name": "Demo AS"},
        "/api/v2/companies/x/accounts": [{"code": "6800", "name": "Rekvisita"}, {"name": "?"}],
        "/api/v2/companies/x/bankAccounts": [
            {"bankAccountId": 1, "accountCode": "1920:10001", "name": "Drift"},
            {"bankAccountId": 2, "name": "Uten kode"},
            {"accountCode": "1920:10003", "name": "Uten id"},
        ],
        "/api/v2/companies/x/contacts": [
            {"name": "Telenor Norge AS", "supplier": True},
            {"contactId": 3, "name": "Telenor Norge AS", "supplier": True},
        ],
        "/api/v2/companies/x/contacts/4": {"name": "Ny AS", "supplier": True},
        "/api/v2/companies/x/purchases": [idless, ours],
        "/api/v2/companies/x/journalEntries": [
            {"description": "Uten id", "date": "2026-03-14", "lines": [{"amount": 1}]},
            {**entry, "lines": [{"amount": 1}]},
        ],
    }
    for schema, body in (
        ("company", bodies["/api/v2/companies/x"]),
        ("purchaseResult", idless),
        ("contact", bodies["/api/v2/companies/x/contacts/4"]),
    ):
        assert errors(FIKEN_SPEC, schema, body) == []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(201, headers={"Location": "/api/v2/companies/x/contacts/4"})
        return httpx.Response(200, json=bodies[request.url.path])

    client = answering(handler, sleep)
    books = FikenBooks(client, "x")
    try:
        company = await books.company()
        accounts = await books.accounts()
        banks = await books.bank_accounts()
        supplier = await books.find_supplier(None, "Telenor Norge AS")
        created = await books.create_supplier("Ny AS", None)
        found = await books.find_purchase("bk-mine-1", DAY)
        listed = await books.purchases(DAY, DAY)
        journal = await books.find_journal_entry("bk-je-1", DAY)
        bodies["/api/v2/companies/x/purchases"] = [{**idless, "lines": ours["lines"]}]
        with pytest.raises(ExternalAnswerInvalid, match="bk-mine-1"):
            await books.find_purchase("bk-mine-1", DAY)
    finally:
        await client.aclose()

    assert (company.slug, company.name) == ("x", "Demo AS")
    assert [a.code for a in accounts] == ["6800"]
    assert [(b.id, b.account_code) for b in banks] == [("1", "1920:10001")]
    assert supplier is not None and supplier.id == "3"
    assert (created.id, created.name) == ("4", "Ny AS")
    assert found is not None and found.id == "7"
    assert [p.id for p in listed] == ["7"]
    assert journal is not None and journal.id == "9"


async def test_the_fake_refuses_a_request_the_spec_does_not_allow(
    fiken: tuple[FakeFiken, str],
) -> None:
    """As a fake generated from the spec would: every test against the fake runs its
    adapter's requests through the spec's operations."""
    fake, base_url = fiken
    headers = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers) as http:
        path = f"/companies/{DEFAULT_COMPANY}/purchases"
        assert (await http.get(path, params={"dateGe": "2026-03-14"})).status_code == 200
        refused = await http.get(path, params={"fromDate": "2026-03-14", "pageSize": "500"})
        wrong_id = await http.get(f"{path}/abc")

    assert refused.status_code == 400 and "fromDate" in refused.text
    assert wrong_id.status_code == 400
    assert len(fake.spec_violations) == 3  # fromDate, pageSize > 100, a purchaseId not int64
