"""The Folio adapter against the fake Folio on loopback (and httpx.MockTransport where a
transport failure is needed): every Bank method, kroner strings ↔ Decimal, raw uploads,
month windows, error translation and retries, and the fake's own conformance to the spec.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest
import pytest_asyncio

from bookkeeper.adapters.folio import FolioBank, FolioClient, folio_bank_provider
from bookkeeper.adapters.folio.bank import content_disposition, month_windows
from bookkeeper.application.errors import (
    ExternalAuthFailed,
    ExternalError,
    ExternalNotFound,
    ExternalRateLimited,
    ExternalRejected,
    ExternalUnavailable,
)
from bookkeeper.application.ports import Bank
from tests.fakes.contract import FOLIO_SPEC, SpecCheckingTransport, errors, request_errors
from tests.fakes.folio import CARD, OPERATIONAL, TOKEN, FakeFolio, running_fake_folio, stable_id

JAN_1, FEB_28 = dt.date(2025, 1, 1), dt.date(2025, 2, 28)
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


class Sleeps(list[float]):
    """An injected sleep that records the pauses instead of taking them."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


#: One fake server for the module (starting and stopping uvicorn costs more than the tests),
#: reset before each test; so every async test and fixture runs in the module's event loop.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def served() -> AsyncIterator[tuple[FakeFolio, str]]:
    async with running_fake_folio() as running:
        yield running


@pytest_asyncio.fixture(loop_scope="module")
async def folio(served: tuple[FakeFolio, str]) -> AsyncIterator[tuple[FakeFolio, str]]:
    fake, base_url = served
    fake.reset()
    try:
        yield fake, base_url
    finally:
        fake.release()


@pytest.fixture
def fake(folio: tuple[FakeFolio, str]) -> FakeFolio:
    return folio[0]


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest_asyncio.fixture(loop_scope="module")
async def client(folio: tuple[FakeFolio, str], sleeps: Sleeps) -> AsyncIterator[FolioClient]:
    # Nothing hangs for this client: a timeout no loopback answer reaches on a busy machine.
    client = FolioClient(folio[1], TOKEN, timeout=30.0, sleep=sleeps)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def bank(client: FolioClient) -> FolioBank:
    return FolioBank(client)


def by_id(items: list[Any]) -> dict[str, Any]:
    return {item.id: item for item in items}


# --- reading ------------------------------------------------------------------------------


async def test_accounts_come_with_exact_decimal_balances(bank: FolioBank) -> None:
    accounts = {a.account_number: a for a in await bank.accounts()}

    assert set(accounts) == {OPERATIONAL, CARD}
    assert (accounts[OPERATIONAL].type, accounts[CARD].type) == ("Operational", "Card")
    # 150 000 + 12 500 − 15 000 − 3 000; 2 000 + 3 000 − the card spending + a 199 refund
    assert accounts[OPERATIONAL].balance == Decimal("144500.00")
    assert str(accounts[CARD].balance) == "2601.10"
    assert accounts[CARD].currency == "NOK"


async def test_balance_is_start_and_end_of_day(bank: FolioBank) -> None:
    adobe_day = await bank.balance(CARD, dt.date(2025, 1, 10))  # one purchase of 239.00

    assert adobe_day.incoming - adobe_day.outgoing == Decimal("239.00")
    assert adobe_day.outgoing == Decimal("4368.00")
    before_opening = await bank.balance(CARD, dt.date(2024, 11, 30))
    assert (before_opening.incoming, before_opening.outgoing) == (Decimal(0), Decimal(0))


async def test_balance_of_an_unknown_account_is_not_found(bank: FolioBank) -> None:
    with pytest.raises(ExternalNotFound):
        await bank.balance("12345678903", dt.date(2025, 1, 10))


async def test_unsigned_kroner_strings_become_signed_exact_decimals(
    bank: FolioBank, fake: FakeFolio
) -> None:
    purchase = fake.add_transaction(
        amount="-1234.50", date=dt.date(2025, 1, 29), merchant="Clas Ohlson"
    )
    assert fake.transaction_body(purchase)["transactionAmount"]["amount"] == "1234.50"

    found = by_id(await bank.transactions(dt.date(2025, 1, 1), dt.date(2025, 1, 31)))

    mine = found[str(purchase.transaction_id)]
    assert str(mine.amount) == "-1234.50" and isinstance(mine.amount, Decimal)
    assert (mine.event_id, mine.date, mine.account_number) == (
        purchase.id,
        dt.date(2025, 1, 29),
        CARD,
    )
    assert mine.merchant_name == "Clas Ohlson"  # from includes, not "CLAS OHLSON 1001"
    incoming = found[stable_id("tx:kunde-1001")]
    assert (incoming.amount, incoming.account_number) == (Decimal("12500.00"), OPERATIONAL)
    rent = found[stable_id("tx:husleie-feb")]
    assert (rent.amount, rent.merchant_name) == (Decimal("-15000.00"), "Huseier AS")
    assert rent.complete and [a.filename for a in rent.attachments] == ["husleie-februar.pdf"]


async def test_internal_transfer_is_out_of_one_account_and_into_the_other(
    bank: FolioBank,
) -> None:
    found = await bank.transactions(dt.date(2025, 1, 2), dt.date(2025, 1, 2))

    sides = {t.account_number: (t.amount, t.merchant_name) for t in found}
    assert sides == {OPERATIONAL: (Decimal("-3000.00"), None), CARD: (Decimal("3000.00"), None)}


async def test_a_card_refund_is_money_in(bank: FolioBank) -> None:
    [refund] = await bank.transactions(dt.date(2025, 2, 26), dt.date(2025, 2, 26))

    assert (refund.amount, refund.merchant_name) == (Decimal("199.00"), "Clas Ohlson")


async def test_signed_amounts_on_the_wire_are_honoured_too(
    bank: FolioBank, fake: FakeFolio
) -> None:
    as_specified = await bank.transactions(JAN_1, FEB_28)
    events_as_specified = await bank.events(JAN_1, FEB_28)
    fake.amount_style = "signed"

    assert await bank.transactions(JAN_1, FEB_28) == as_specified
    assert await bank.events(JAN_1, FEB_28) == events_as_specified


async def test_merchant_falls_back_to_the_terminal_name_without_includes(
    bank: FolioBank, fake: FakeFolio
) -> None:
    def drop_includes(body: dict[str, Any]) -> None:
        body.pop("includes", None)

    fake.tamper_next(2, drop_includes)  # the accounts answer, then the transactions
    [ruter] = await bank.transactions(dt.date(2025, 1, 7), dt.date(2025, 1, 7))

    assert ruter.merchant_name == "RUTER AS APP"


async def test_a_long_range_is_fetched_in_month_windows_and_merged(
    bank: FolioBank, fake: FakeFolio
) -> None:
    first_window: list[dict[str, Any]] = []

    def keep(body: dict[str, Any]) -> None:
        first_window.extend(body["transactions"]["booked"])

    def add_a_duplicate(body: dict[str, Any]) -> None:
        body["transactions"]["booked"].append(first_window[0])

    fake.tamper_next(1, lambda body: None)  # /accounts
    fake.tamper_next(1, keep)
    fake.tamper_next(1, add_a_duplicate)
    found = await bank.transactions(JAN_1, FEB_28)

    windows = [
        (r.query["startDate"], r.query["endDate"]) for r in fake.seen("GET", "/transactions")
    ]
    assert windows == [("2025-01-01", "2025-01-31"), ("2025-02-01", "2025-02-28")]
    booked = [e for e in fake.events.values() if e.booking_date is not None]
    assert sorted(t.id for t in found) == sorted(str(e.transaction_id) for e in booked)
    assert [t.date for t in found] == sorted(t.date for t in found)


async def test_a_short_range_is_one_request(bank: FolioBank, fake: FakeFolio) -> None:
    await bank.transactions(dt.date(2025, 1, 15), dt.date(2025, 2, 14))

    assert len(fake.seen("GET", "/transactions")) == 1
    assert await bank.transactions(dt.date(2025, 2, 1), dt.date(2025, 1, 1)) == []


async def test_month_windows() -> None:  # async: the module's asyncio mark
    assert month_windows(dt.date(2025, 1, 15), dt.date(2025, 3, 10)) == [
        (dt.date(2025, 1, 15), dt.date(2025, 1, 31)),
        (dt.date(2025, 2, 1), dt.date(2025, 2, 28)),
        (dt.date(2025, 3, 1), dt.date(2025, 3, 10)),
    ]
    assert month_windows(dt.date(2024, 2, 1), dt.date(2024, 3, 2)) == [
        (dt.date(2024, 2, 1), dt.date(2024, 3, 2))
    ]  # 31 days: one window
    assert month_windows(dt.date(2025, 1, 2), dt.date(2025, 1, 1)) == []


async def test_events_include_pending_card_authorisations_on_the_norwegian_day(
    bank: FolioBank, fake: FakeFolio
) -> None:
    found = by_id(await bank.events(dt.date(2025, 2, 20), dt.date(2025, 3, 5)))

    pending = found[stable_id("event:pending-rema")]  # 23:30 UTC on 28 February
    assert (pending.date, pending.amount, pending.currency) == (
        dt.date(2025, 3, 1),
        Decimal("-310.40"),
        "NOK",
    )
    assert (pending.merchant_name, pending.account_number) == ("Rema 1000", CARD)
    assert pending.event_id == pending.id and not pending.complete
    coffee = found[stable_id("event:2025-02-20:Kaffebrenneriet")]
    assert coffee.complete and [a.mime_type for a in coffee.attachments] == ["image/png"]


async def test_an_event_between_our_accounts_takes_the_sign_of_its_transaction(
    bank: FolioBank, fake: FakeFolio
) -> None:
    found = await bank.events(dt.date(2025, 1, 2), dt.date(2025, 1, 2))

    assert {(t.account_number, t.amount) for t in found} == {
        (OPERATIONAL, Decimal("-3000.00")),
        (CARD, Decimal("3000.00")),
    }
    assert len(fake.seen("GET", "/transactions")) == 1  # fetched because it was needed


# --- writing ------------------------------------------------------------------------------


async def test_attach_receipt_sends_the_raw_file(bank: FolioBank, fake: FakeFolio) -> None:
    event_id = stable_id("event:2025-01-28:Clas Ohlson")

    attachment_id = await bank.attach_receipt(
        event_id, "kvittering-1234.pdf", PDF, "application/pdf"
    )

    [upload] = fake.uploads
    assert (upload.event_id, upload.attachment_id) == (event_id, attachment_id)
    assert upload.content == PDF  # the bytes themselves, no multipart envelope
    assert upload.content_type == "application/pdf"
    assert upload.content_disposition == 'attachment; filename="kvittering-1234.pdf"'
    assert upload.filename == "kvittering-1234.pdf"
    around = dt.date(2025, 1, 30)
    assert await bank.find_attachment(event_id, "kvittering-1234.pdf", around) == attachment_id


async def test_a_non_ascii_file_name_survives(bank: FolioBank, fake: FakeFolio) -> None:
    event_id = stable_id("event:2025-02-03:Rema 1000")
    name = 'Rema "Bærum" kvittering-Tromsø.jpg'

    attachment_id = await bank.attach_receipt(event_id, name, b"\xff\xd8\xff", "image/jpeg")

    assert content_disposition(name).startswith(
        'attachment; filename="Rema _Baerum_ kvittering-Tromso.jpg"; filename*=UTF-8'
    )
    assert fake.attachments_on(event_id)[-1].filename == name
    assert await bank.find_attachment(event_id, name, dt.date(2025, 2, 3)) == attachment_id


async def test_find_attachment_tells_another_file_of_the_same_name(
    bank: FolioBank, fake: FakeFolio
) -> None:
    # A file someone else put on the event under our name is not ours: Folio lists each
    # attachment's fileSize, and ours has other bytes.
    event_id = stable_id("event:2025-01-28:Clas Ohlson")
    around = dt.date(2025, 1, 30)
    fake.attach(event_id, "bk-0001.pdf", "application/pdf", PDF + b"% another file\n")

    assert await bank.find_attachment(event_id, "bk-0001.pdf", around, size=len(PDF)) is None

    ours = await bank.attach_receipt(event_id, "bk-0001.pdf", PDF, "application/pdf")
    assert await bank.find_attachment(event_id, "bk-0001.pdf", around, size=len(PDF)) == ours


async def test_find_attachment_misses_cleanly(bank: FolioBank) -> None:
    clas = stable_id("event:2025-01-03:Clas Ohlson")

    assert await bank.find_attachment(clas, "kvittering-clas-ohlson.pdf", dt.date(2025, 1, 5))
    assert await bank.find_attachment(clas, "other.pdf", dt.date(2025, 1, 5)) is None
    assert await bank.find_attachment(clas, "kvittering-clas-ohlson.pdf", FEB_28) is None


async def test_other_file_types_are_refused(
    bank: FolioBank, client: FolioClient, fake: FakeFolio
) -> None:
    event_id = stable_id("event:2025-01-07:Ruter")
    with pytest.raises(ExternalRejected):
        await bank.attach_receipt(event_id, "notes.txt", b"hello", "text/plain")
    assert fake.uploads == [] and fake.seen("POST", f"/events/{event_id}/attachments") == []

    with pytest.raises(ExternalRejected) as refused:  # and Folio (the fake) would say 415
        await client.request(
            "POST",
            f"/events/{event_id}/attachments",
            idempotent=False,
            content=b"GIF89a",
            headers={"Content-Type": "image/gif"},
        )
    assert refused.value.status == 415 and fake.uploads == []


async def test_mark_complete_and_incomplete(bank: FolioBank, fake: FakeFolio) -> None:
    event_id = stable_id("event:2025-01-07:Ruter")

    await bank.mark_complete(event_id)
    assert fake.events[event_id].complete
    [ruter] = await bank.events(dt.date(2025, 1, 7), dt.date(2025, 1, 7))
    assert ruter.complete

    await bank.mark_incomplete(event_id)
    assert not fake.events[event_id].complete


async def test_a_403_on_an_unknown_event_is_not_found(bank: FolioBank) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    with pytest.raises(ExternalNotFound):
        await bank.mark_complete(missing)
    with pytest.raises(ExternalNotFound):
        await bank.attach_receipt(missing, "x.pdf", PDF, "application/pdf")


async def test_a_403_that_the_token_also_gets_elsewhere_is_an_auth_failure(
    bank: FolioBank, fake: FakeFolio
) -> None:
    fake.fail_next(2, status=403)  # the write, then the probe

    with pytest.raises(ExternalAuthFailed) as refused:
        await bank.mark_complete(stable_id("event:2025-01-07:Ruter"))
    assert refused.value.status == 403


# --- failures -----------------------------------------------------------------------------


async def test_5xx_on_a_read_is_retried(bank: FolioBank, fake: FakeFolio, sleeps: Sleeps) -> None:
    fake.fail_next(2, status=503)

    assert len(await bank.accounts()) == 2
    assert sleeps == [0.5, 1.0]


async def test_5xx_that_persists_is_unavailable(bank: FolioBank, fake: FakeFolio) -> None:
    fake.fail_next(5, status=502)

    with pytest.raises(ExternalUnavailable) as failed:
        await bank.accounts()
    assert failed.value.retryable and failed.value.status == 502
    assert failed.value.system == "folio"
    assert len(fake.seen("GET", "/accounts")) == 3


async def test_5xx_on_an_upload_is_not_repeated(bank: FolioBank, fake: FakeFolio) -> None:
    event_id = stable_id("event:2025-01-22:Ruter")
    fake.fail_next(1, status=500, after_commit=True)

    with pytest.raises(ExternalUnavailable):
        await bank.attach_receipt(event_id, "ruter.pdf", PDF, "application/pdf")
    assert len(fake.uploads_to(event_id)) == 1
    assert await bank.find_attachment(event_id, "ruter.pdf", dt.date(2025, 1, 22))


async def test_a_503_says_how_long_folio_stays_down(bank: FolioBank, fake: FakeFolio) -> None:
    """A 5xx's Retry-After (RFC 9110) reaches the caller, which waits that long before the
    next attempt (the executor), as after a 429."""
    fake.fail_next(3, status=503, retry_after=900)

    with pytest.raises(ExternalUnavailable) as down:
        await bank.accounts()
    assert down.value.retry_after == 900.0 and down.value.retryable


async def test_429_is_waited_out_as_retry_after_says(
    bank: FolioBank, fake: FakeFolio, sleeps: Sleeps
) -> None:
    fake.rate_limit_next(2, retry_after=3)

    assert len(await bank.transactions(dt.date(2025, 1, 7), dt.date(2025, 1, 7))) == 1
    assert sleeps == [3.0, 3.0]


async def test_429_on_an_upload_is_retried_because_nothing_was_stored(
    bank: FolioBank, fake: FakeFolio
) -> None:
    event_id = stable_id("event:2025-01-22:Ruter")
    fake.rate_limit_next(1)

    await bank.attach_receipt(event_id, "ruter.pdf", PDF, "application/pdf")
    assert len(fake.attachments_on(event_id)) == 1


async def test_429_that_persists_is_rate_limited(bank: FolioBank, fake: FakeFolio) -> None:
    fake.rate_limit_next(3, retry_after=2)

    with pytest.raises(ExternalRateLimited) as limited:
        await bank.accounts()
    assert limited.value.retry_after == 2.0 and limited.value.retryable
    assert len(fake.seen("GET", "/accounts")) == 3


async def test_a_long_retry_after_is_left_to_the_caller(
    bank: FolioBank, fake: FakeFolio, sleeps: Sleeps
) -> None:
    fake.rate_limit_next(1, retry_after=600)

    with pytest.raises(ExternalRateLimited) as limited:
        await bank.accounts()
    assert limited.value.retry_after == 600.0
    assert sleeps == [] and len(fake.seen("GET", "/accounts")) == 1


async def test_a_wrong_token_is_an_auth_failure_and_never_shown(
    folio: tuple[FakeFolio, str], caplog: pytest.LogCaptureFixture
) -> None:
    secret = "folio-wrong-token-7d1e"
    caplog.set_level(logging.DEBUG)
    client = FolioClient(folio[1], secret, sleep=Sleeps())
    try:
        with pytest.raises(ExternalAuthFailed) as refused:
            await FolioBank(client).accounts()
    finally:
        await client.aclose()

    assert refused.value.status == 401 and not refused.value.retryable
    assert secret not in str(refused.value) and secret not in repr(client)
    assert secret not in caplog.text


async def test_commit_then_hang_is_unavailable_and_the_receipt_is_found_once(
    folio: tuple[FakeFolio, str],
) -> None:
    fake, base_url = folio
    event_id = stable_id("event:2025-02-14:Ruter")
    # The hang outlasts the timeout; the upload before it and the read after it do not
    # reach it on a loaded machine (0.3 s could time the POST out while it was sent).
    client = FolioClient(base_url, TOKEN, timeout=2.0, sleep=Sleeps())
    bank = FolioBank(client)
    fake.commit_then_hang(1, seconds=30)
    try:
        with pytest.raises(ExternalUnavailable) as failed:
            await bank.attach_receipt(event_id, "ruter-feb.pdf", PDF, "application/pdf")
        found = await bank.find_attachment(event_id, "ruter-feb.pdf", dt.date(2025, 2, 14))
    finally:
        await client.aclose()

    assert "no answer" in str(failed.value)
    [stored] = fake.attachments_on(event_id)
    assert found == stored.id
    assert len(fake.seen("POST", f"/events/{event_id}/attachments")) == 1


async def test_a_refused_connection_is_unavailable(sleeps: Sleeps) -> None:
    client = FolioClient("http://127.0.0.1:9/v2", TOKEN, timeout=1.0, sleep=sleeps)
    try:
        with pytest.raises(ExternalUnavailable):
            await FolioBank(client).accounts()
    finally:
        await client.aclose()
    assert len(sleeps) == 2  # retried like any unsent request


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (
            lambda b: b["transactions"]["booked"][0]["transactionAmount"].update(amount="44,00"),
            "not a decimal amount",
        ),
        (
            lambda b: b["transactions"]["booked"][0]["transactionAmount"].update(amount=44.0),
            "Expected `str`",
        ),
        (lambda b: b["transactions"]["booked"][0].pop("bookingDate") and None, "bookingDate"),
    ],
    ids=["comma-decimal", "json-number", "missing-field"],
)
async def test_a_body_that_breaks_the_contract_is_a_permanent_error(
    bank: FolioBank, fake: FakeFolio, edit: Callable[[Any], Any], problem: str
) -> None:
    fake.tamper_next(1, lambda body: None)  # /accounts
    fake.tamper_next(1, edit)

    with pytest.raises(ExternalError) as broken:
        await bank.transactions(dt.date(2025, 1, 7), dt.date(2025, 1, 7))
    assert not isinstance(broken.value, ExternalUnavailable | ExternalRejected)
    assert not broken.value.retryable
    assert "contract" in str(broken.value) and problem in str(broken.value)


# --- MockTransport: failures the loopback fake cannot produce ---------------------------------


def scripted(*steps: Exception | httpx.Response) -> tuple[httpx.MockTransport, list[str]]:
    """A transport that plays `steps` in order (raising exceptions), logging the methods."""
    queue, seen = list(steps), []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        step = queue.pop(0)
        if isinstance(step, Exception):
            raise step
        return step

    return httpx.MockTransport(handle), seen


async def test_a_read_timeout_is_retried_on_reads_only() -> None:
    accounts = httpx.Response(200, json={"accounts": []})
    transport, seen = scripted(httpx.ReadTimeout("slow"), accounts)
    client = FolioClient("https://folio.test/v2", TOKEN, transport=transport, sleep=Sleeps())
    assert await FolioBank(client).accounts() == []
    assert seen == ["GET", "GET"]

    transport, seen = scripted(httpx.ReadTimeout("slow"), httpx.Response(200, json={"id": "x"}))
    client = FolioClient("https://folio.test/v2", TOKEN, transport=transport, sleep=Sleeps())
    with pytest.raises(ExternalUnavailable):
        await FolioBank(client).attach_receipt("e1", "a.pdf", PDF, "application/pdf")
    assert seen == ["POST"]


async def test_an_upload_that_never_left_is_sent_again() -> None:
    transport, seen = scripted(
        httpx.ConnectError("refused"), httpx.Response(200, json={"id": "a1"})
    )
    client = FolioClient("https://folio.test/v2", TOKEN, transport=transport, sleep=Sleeps())

    assert await FolioBank(client).attach_receipt("e1", "a.pdf", PDF, "application/pdf") == "a1"
    assert seen == ["POST", "POST"]


@pytest.mark.parametrize("status", [400, 422])
async def test_a_validation_error_is_rejected_with_a_short_body(status: int) -> None:
    transport, _ = scripted(httpx.Response(status, text="invalid startDate " + "x" * 5000))
    client = FolioClient("https://folio.test/v2", TOKEN, transport=transport, sleep=Sleeps())

    with pytest.raises(ExternalRejected) as rejected:
        await FolioBank(client).transactions(JAN_1, JAN_1)
    assert rejected.value.status == status and "invalid startDate" in str(rejected.value)
    assert len(str(rejected.value)) < 600


# --- wiring and the fake's contract ----------------------------------------------------------


async def test_the_provider_shares_one_bank_and_closes_its_client(
    folio: tuple[FakeFolio, str],
) -> None:
    provider, close = folio_bank_provider(folio[1], TOKEN)
    first: Bank = provider("tenant-a")
    try:
        assert first is provider("tenant-b") and first.name == "folio"
        assert len(await first.accounts()) == 2
    finally:
        await close()


async def test_the_fake_speaks_the_folio_contract(folio: tuple[FakeFolio, str]) -> None:
    fake, base_url = folio
    headers = {"Authorization": f"Bearer {TOKEN}"}
    event_id = stable_id("event:2025-01-10:Adobe")
    dates = {"startDate": "2025-01-01", "endDate": "2025-03-31"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers) as http:
        bodies = {
            "AccountsResponse": (await http.get("/accounts")).json(),
            "AccountBalance": (await http.get(f"/accounts/{CARD}/balance/2025-01-10")).json(),
            "TransactionResponse": (
                await http.get("/transactions", params={**dates, "includeMerchants": "true"})
            ).json(),
            "EventsResponse": (
                await http.get(
                    "/events",
                    params={**dates, "includeMerchants": "true", "includeCards": "true"},
                )
            ).json(),
            "CreateAttachmentResponse": (
                await http.post(
                    f"/events/{event_id}/attachments",
                    content=PDF,
                    headers={"Content-Type": "application/pdf"},
                )
            ).json(),
        }
        assert (await http.post(f"/events/{event_id}/complete")).status_code == 202
        assert (await http.delete(f"/events/{event_id}/complete")).status_code == 202
        assert (await http.get("/events")).status_code == 400  # startDate is required
        assert (
            await http.get("/accounts", headers={"Authorization": "Bearer x"})
        ).status_code == 401

    for schema, body in bodies.items():
        assert errors(FOLIO_SPEC, schema, body) == [], schema
    assert len(bodies["TransactionResponse"]["transactions"]["booked"]) == 15
    assert len(bodies["EventsResponse"]["events"]) == 16
    assert fake.violations == []
    assert fake.spec_violations == ["GET /events: required query parameter 'startDate' missing"]
    # and the check has teeth: a signed amount is outside the spec's pattern
    signed = bodies["TransactionResponse"]
    signed["transactions"]["booked"][0]["transactionAmount"]["amount"] = "-3000.00"
    assert errors(FOLIO_SPEC, "TransactionResponse", signed) != []


async def test_everything_the_adapter_was_told_conformed(bank: FolioBank, fake: FakeFolio) -> None:
    await bank.accounts()
    await bank.balance(OPERATIONAL, dt.date(2025, 1, 31))
    await bank.transactions(JAN_1, FEB_28)
    await bank.events(JAN_1, dt.date(2025, 3, 31))
    await bank.attach_receipt(stable_id("event:2025-01-07:Ruter"), "r.png", b"\x89PNG", "image/png")

    assert fake.violations == [] and fake.spec_violations == []
    assert len(fake.requests) >= 8


async def test_every_request_the_adapter_makes_is_one_the_spec_allows(
    folio: tuple[FakeFolio, str], sleeps: Sleeps
) -> None:
    """A fake generated from the spec refuses what the spec does not allow: every Bank
    method's requests (paths, uuid path parameters, query parameters with their types
    and formats, the attachment's Content-Type header and media type, the PATCH body)
    are checked against the operation they call."""
    _, base_url = folio
    checked = SpecCheckingTransport(FOLIO_SPEC, "/v2")
    client = FolioClient(base_url, TOKEN, timeout=30.0, sleep=sleeps, transport=checked)
    bank = FolioBank(client)
    event_id = stable_id("event:2025-01-07:Ruter")
    try:
        await bank.accounts()
        await bank.balance(OPERATIONAL, dt.date(2025, 1, 31))
        await bank.transactions(JAN_1, FEB_28)
        await bank.events(JAN_1, dt.date(2025, 3, 31))
        await bank.attach_receipt(event_id, "kvittering æøå.pdf", PDF, "application/pdf")
        await bank.find_attachment(event_id, "kvittering æøå.pdf", dt.date(2025, 1, 7))
        await bank.annotate(event_id, "MVA 25 %: 100,00", dt.date(2025, 1, 7))
        await bank.mark_complete(event_id)
        await bank.mark_incomplete(event_id)
    finally:
        await client.aclose()

    assert checked.problems == []
    assert len(checked.seen) >= 10
    # and the check has teeth: an event id that is not a uuid, a missing startDate
    assert request_errors(FOLIO_SPEC, "POST", "/events/42/complete", [], {}, b"")
    assert request_errors(FOLIO_SPEC, "GET", "/events", [("endDate", "2025-01-01")], {}, b"")


def answering(routes: dict[str, Any]) -> FolioClient:
    """A client whose Folio answers each path (below /v2) with its JSON body; 202 else."""

    def handle(request: httpx.Request) -> httpx.Response:
        body = routes.get(request.url.path.removeprefix("/v2"))
        return httpx.Response(202) if body is None else httpx.Response(200, json=body)

    transport = httpx.MockTransport(handle)
    return FolioClient("https://folio.test/v2", TOKEN, transport=transport, sleep=Sleeps())


async def test_a_pending_event_the_spec_leaves_without_a_direction_is_left_out() -> None:
    """The spec's Event requires only id, time, amount, attachments, transactions and
    complete: a pending event with neither card authorisation nor payment says nothing of
    which way its (unsigned) amount goes. It is left out — it is listed again once booked,
    when its transactions' parties tell — instead of failing every other event with it."""
    card_id, merchant = (
        "5a3c1c1e-93c1-4a6e-9d59-2f1c3f0c0a11",
        "b1e4c9f2-0e7e-4a55-8a5b-7d3c1d2e9f00",
    )
    bare = {
        "id": "0f8fad5b-d9cb-469f-a165-70867728950e",
        "time": "2025-01-10T09:30:00.123+01:00",
        "amount": {"amount": "250.00", "currency": "NOK"},
        "transactions": [],
        "attachments": [],
        "complete": False,
    }
    card = {
        **bare,
        "id": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
        "cardAuthorization": {
            "cardId": card_id,
            "merchantId": merchant,
            "merchantName": "RUTER AS",
            "mcc": 4111,
            "terminalId": "T1",
            "physicalTerminal": False,
            "currencyAmount": {"amount": "42.00", "currency": "NOK"},
        },
    }
    events = {"events": [bare, card]}
    accounts = {"accounts": []}
    assert errors(FOLIO_SPEC, "EventsResponse", events) == []
    client = answering({"/events": events, "/accounts": accounts, "/transactions": {}})
    try:
        found = await FolioBank(client).events(JAN_1, JAN_1 + dt.timedelta(days=20))
    finally:
        await client.aclose()

    assert [(e.id, e.amount, e.merchant_name) for e in found] == [
        (card["id"], Decimal("-250.00"), "RUTER AS")
    ]


async def test_optional_fields_answered_as_null_are_read_as_absent() -> None:
    """A counterpart whose models serialise an unset optional field as null (FastAPI with
    models generated from the spec does by default): includes, purpose, note, payment,
    a party's name, an attachment's filename — read as left out, not as a broken list."""
    event = {
        "id": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
        "time": "2025-01-10T09:30:00Z",
        "amount": {"amount": "42.00", "currency": "NOK"},
        "transactions": [],
        "attachments": [
            {
                "id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
                "mimeType": "application/pdf",
                "filename": None,
                "orgNum": "",
                "fileSize": 10,
                "uploadedByAgentId": "1b4e28ba-2fa1-11d2-883f-0016d3cca428",
                "averageColor": "#fff",
                "extractedText": None,
            }
        ],
        "complete": False,
        "payment": None,
        "purpose": None,
        "note": None,
        "ledgerCategory": None,
        "cardAuthorization": {
            "cardId": "5a3c1c1e-93c1-4a6e-9d59-2f1c3f0c0a11",
            "merchantId": "b1e4c9f2-0e7e-4a55-8a5b-7d3c1d2e9f00",
            "merchantName": "RUTER AS",
            "mcc": 4111,
            "terminalId": "T1",
            "physicalTerminal": False,
            "currencyAmount": {"amount": "42.00", "currency": "NOK"},
        },
    }
    routes = {
        "/accounts": {"accounts": []},
        "/events": {"events": [event], "includes": {"merchants": None, "cards": None}},
        "/transactions": {"transactions": None, "includes": None},
        f"/accounts/{OPERATIONAL}/balance/2025-01-10": {
            "incomingBalance": None,
            "outgoingBalance": "10.00",
        },
    }
    client = answering(routes)
    bank = FolioBank(client)
    try:
        [found] = await bank.events(JAN_1, JAN_1 + dt.timedelta(days=20))
        assert await bank.transactions(JAN_1, JAN_1) == []
        balance = await bank.balance(OPERATIONAL, dt.date(2025, 1, 10))
    finally:
        await client.aclose()

    assert (found.amount, found.merchant_name) == (Decimal("-42.00"), "RUTER AS")
    assert [a.filename for a in found.attachments] == [None]
    assert (balance.incoming, balance.outgoing) == (Decimal("0"), Decimal("10.00"))


async def test_a_retry_after_date_and_an_html_5xx_are_read_as_such() -> None:
    """429 with Retry-After as an HTTP date is waited out as told; a 5xx with an HTML
    page is unavailable, retried on a read, its excerpt cut short."""
    when = email.utils.format_datetime(
        dt.datetime.now(dt.UTC) + dt.timedelta(seconds=20), usegmt=True
    )
    accounts = httpx.Response(
        200, content=b'{"accounts": []}', headers={"Content-Type": "application/json;charset=UTF-8"}
    )
    html = "<html><body>" + "x" * 5000 + "</body></html>"
    transport, seen = scripted(
        httpx.Response(429, headers={"Retry-After": when}),
        httpx.Response(502, html=html),
        accounts,
    )
    sleeps = Sleeps()
    client = FolioClient("https://folio.test/v2", TOKEN, transport=transport, sleep=sleeps)
    assert await FolioBank(client).accounts() == []
    assert seen == ["GET"] * 3
    assert 1.0 <= sleeps[0] <= 20.0 and sleeps[1] == 1.0

    transport, _ = scripted(*[httpx.Response(503, html=html)] * 3)
    client = FolioClient("https://folio.test/v2", TOKEN, transport=transport, sleep=Sleeps())
    with pytest.raises(ExternalUnavailable) as failed:
        await FolioBank(client).accounts()
    assert failed.value.status == 503 and len(str(failed.value)) < 700
