"""The crash-point matrix of quality.md, reliability 4, against the real adapters.

Crash after approval / after claiming / after the remote 2xx but before recording / after
recording, × timeout (the remote side committed, the answer never came) / 5xx (before or
after the remote side committed) / 429 — for each kind of remote write: a supplier invoice,
an expense and a supplier's credit note (a journal entry with its document, ADR 0054) in
Fiken, a receipt attached to a Folio event. The real Fiken and Folio
adapters talk HTTP to the loopback fakes; a crash is a BaseException that kills the pass
where it is raised, and a "restart" is a new executor once the crashed attempt's lease ran
out. However it goes, the end state must be: EXECUTED, exactly one remote object carrying
our reference, exactly one ledger posting, and the trial balance at zero.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
import pytest_asyncio

from bookkeeper.adapters.fiken import FikenBooks, FikenClient
from bookkeeper.adapters.fiken.ratelimit import SlidingWindow
from bookkeeper.adapters.folio import FolioBank, FolioClient
from bookkeeper.application.commands import RetryExecution
from bookkeeper.application.errors import ExternalRejected
from bookkeeper.application.event_log import posting_id
from bookkeeper.application.execution import ExecutionPolicy, Executor, reference
from bookkeeper.application.ports import Bank, Books
from bookkeeper.domain.events import AlertRaisedData, ExecutionFailedData, Status
from tests.fakes.fiken import FakeFiken, FikenServer, running_fiken_server
from tests.fakes.folio import FakeFolio, running_fake_folio
from tests.unit.external_doubles import (
    Harness,
    SimulatedCrash,
    correction,
    expense,
    invoice,
    receipt,
    reviewer,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

#: The adapters' HTTP timeout in the cases whose fault is a hang: the hang outlasts it.
#: Every other request may take as long as a loaded machine makes it (a 0.4 s timeout
#: here turned ordinary requests into timeouts in a busy suite).
HANG_TIMEOUT = 2.0
#: The adapters' HTTP timeout where nothing hangs: no loopback answer takes this long.
TIMEOUT = 30.0
POLICY = ExecutionPolicy(
    base_delay=dt.timedelta(seconds=30),
    lease=dt.timedelta(minutes=5),
    lease_margin=dt.timedelta(seconds=30),
    payment_account="1920:10001",
)
CRASH_POINTS = ("after_approval", "after_claim", "after_remote_2xx", "after_record")
FAULTS = ("none", "timeout", "5xx", "5xx_after_commit", "429")
KINDS = ("invoice", "expense", "credit_note", "receipt")


class Crashing:
    """A Books or Bank whose named method crashes the process once: before it is called
    (`before=True`) or after the remote side answered 2xx."""

    def __init__(self, inner: Any, method: str | None, *, before: bool = False) -> None:
        self._inner = inner
        self._method = method
        self._before = before
        self.name = inner.name

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if name != self._method:
            return attribute

        async def call(*args: Any, **kwargs: Any) -> Any:
            if self._before:
                self._method = None
                raise SimulatedCrash(f"crash before {name}")
            result = await attribute(*args, **kwargs)
            self._method = None  # crash once; the restarted process calls it normally
            raise SimulatedCrash(f"crash after {name} answered")
            return result  # pragma: no cover

        return call


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def fiken_server() -> AsyncIterator[FikenServer]:
    async with running_fiken_server() as server:
        yield server


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def folio_server() -> AsyncIterator[tuple[FakeFolio, str]]:
    async with running_fake_folio() as (fake, base_url):
        yield fake, base_url


class World:
    """One case: a fresh fake Fiken and Folio state, real adapters, a harness."""

    def __init__(
        self,
        fiken: FikenServer,
        folio: tuple[FakeFolio, str],
        *,
        fast: bool = True,
        timeout: float = TIMEOUT,
    ) -> None:
        self.fiken: FakeFiken = fiken.fresh()
        self.folio, folio_url = folio
        self.folio.reset()
        # Fiken's real 4-per-second window would make this matrix take minutes; the last
        # test below runs with it.
        self.fiken_client = FikenClient(
            fiken.base_url,
            self.fiken.token,
            timeout=timeout,
            window=SlidingWindow(limit=1000) if fast else None,
        )
        self.folio_client = FolioClient(folio_url, self.folio.token, timeout=timeout)
        self.books: Books = FikenBooks(self.fiken_client, self.fiken.slug)
        self.bank: Bank = FolioBank(self.folio_client)
        self.harness = Harness(policy=POLICY)

    def executor(self, name: str, books: Any = None, bank: Any = None) -> Executor:
        chosen_books, chosen_bank = books or self.books, bank or self.bank
        return self.harness.new_executor(
            name, books=lambda _tenant: chosen_books, bank=lambda _tenant: chosen_bank
        )

    async def close(self) -> None:
        await self.fiken_client.aclose()
        await self.folio_client.aclose()


@pytest_asyncio.fixture(loop_scope="module")
async def world(
    fiken_server: FikenServer, folio_server: tuple[FakeFolio, str], request: pytest.FixtureRequest
) -> AsyncIterator[World]:
    # The short timeout only where the case's fault is a hang that must time out.
    callspec = getattr(request.node, "callspec", None)
    hangs = callspec is not None and callspec.params.get("fault") == "timeout"
    created = World(fiken_server, folio_server, timeout=HANG_TIMEOUT if hangs else TIMEOUT)
    try:
        yield created
    finally:
        await created.close()


async def _approved(world: World, kind: str) -> tuple[uuid.UUID, str | None]:
    harness = world.harness
    document = await harness.store()
    if kind == "invoice":
        data: Any = invoice(document, account_code="6900")
        event_id = None
    elif kind == "expense":
        data = expense(document, account_code="7140")
        event_id = None
    elif kind == "credit_note":
        data = invoice(document, account_code="6900", credit_note=True, credited_invoice="F-900")
        event_id = None
    else:
        event = world.folio.add_event(
            amount=Decimal("-125.00"), date=dt.date(2026, 11, 18), merchant="Kaffebrenneriet"
        )
        event_id = event.id
        data = receipt(document, folio_event_id=event_id)
    return await harness.approved(data), event_id


def _last_remote_call(kind: str) -> tuple[str, str]:
    """(port, method) of the last remote write of an execution: a crash after it answered
    is "after the remote 2xx, before recording" even when an earlier attempt's timeout
    means the object itself is found by reference rather than created."""
    if kind == "receipt":
        return ("bank", "mark_complete")
    if kind == "credit_note":
        return ("books", "attach_to_journal_entry")
    return ("books", "attach_to_purchase")


def _inject(world: World, kind: str, fault: str) -> None:
    """Make the first remote write of the kind meet the fault."""
    if kind == "receipt":
        folio = world.folio
        if fault == "timeout":
            folio.commit_then_hang(1, seconds=5 * HANG_TIMEOUT)
        elif fault == "5xx":
            folio.fail_next(1, status=503)
        elif fault == "5xx_after_commit":
            folio.fail_next(1, status=502, after_commit=True)
        elif fault == "429":
            folio.rate_limit_next(1, retry_after=0)
        return
    fiken = world.fiken
    created = r"/generalJournalEntries$" if kind == "credit_note" else r"/purchases$"
    where: dict[str, Any] = {"method": "POST", "path": created}
    if fault == "timeout":
        fiken.commit_then_hang(1, seconds=5 * HANG_TIMEOUT, **where)
    elif fault == "5xx":
        fiken.fail_next(1, status=503, **where)
    elif fault == "5xx_after_commit":
        fiken.fail_next(1, status=502, after_commit=True, **where)
    elif fault == "429":
        fiken.rate_limit_next(1, retry_after=0, **where)


def _remote_objects(world: World, kind: str, proposal_id: uuid.UUID, event_id: str | None) -> int:
    ref = reference(proposal_id)
    if kind == "receipt":
        assert event_id is not None
        return sum(1 for a in world.folio.attachments_on(event_id) if ref in (a.filename or ""))
    if kind == "credit_note":
        return len(world.fiken.journal_entries_with_reference(ref))
    return len(world.fiken.purchases_with_reference(ref))


async def _run_until_settled(world: World, proposal_id: uuid.UUID) -> Any:
    """Restart executors (a new one each time, the clock past any lease or retry time)
    until the proposal is no longer APPROVED; its view."""
    harness = world.harness
    for restart in range(10):
        view = await harness.view(proposal_id)
        if view.status is not Status.APPROVED:
            return view
        harness.clock.advance(minutes=61)  # past the lease and the longest back-off here
        await world.executor(f"restart-{restart}").run_once()
    return await harness.view(proposal_id)


async def _until_crash(executor: Executor, harness: Harness) -> None:
    """Run passes (the fault may make the first attempts fail) until the crash."""
    for _ in range(3):
        await executor.run_once()
        harness.clock.advance(minutes=61)


CASES = [(k, c, f) for k in KINDS for c in CRASH_POINTS for f in FAULTS]


@pytest.mark.parametrize(("kind", "crash", "fault"), CASES, ids=["-".join(c) for c in CASES])
async def test_no_duplicate_remote_object_and_no_lost_approval(
    world: World, kind: str, crash: str, fault: str
) -> None:
    harness = world.harness
    proposal_id, event_id = await _approved(world, kind)
    _inject(world, kind, fault)
    port, method = _last_remote_call(kind)

    if crash == "after_approval":
        pass  # the process died before any executor ran: nothing was claimed
    elif crash == "after_claim":
        claims = await world.executor("doomed").claim(harness.clock.now())
        assert [c.proposal_id for c in claims] == [proposal_id]
    elif crash == "after_remote_2xx":
        crashing = Crashing(world.bank if port == "bank" else world.books, method)
        doomed = (
            world.executor("doomed", bank=crashing)
            if port == "bank"
            else world.executor("doomed", books=crashing)
        )
        with pytest.raises(SimulatedCrash):
            await _until_crash(doomed, harness)
    elif crash == "after_record":
        for _ in range(3):
            await world.executor("first").run_once()
            if (await harness.view(proposal_id)).status is not Status.APPROVED:
                break
            harness.clock.advance(minutes=61)

    view = await _run_until_settled(world, proposal_id)

    assert view.status is Status.EXECUTED, view.last_error
    assert _remote_objects(world, kind, proposal_id, event_id) == 1
    postings = [p for p in await harness.postings() if p.proposal_id == str(proposal_id)]
    assert len(postings) == 1
    async with harness.uow_factory() as uow:
        lines = await uow.ledger.entry_lines("acme", posting_id(proposal_id))
        totals = await uow.ledger.trial_balance("acme", None, None)
    assert lines
    assert sum(t.debit for t in totals) == sum(t.credit for t in totals)
    if kind == "credit_note":
        [entry] = world.fiken.journal_entries_with_reference(reference(proposal_id))
        [attached] = entry["attachments"]
        assert attached["downloadUrl"].endswith(f"{reference(proposal_id)}.pdf")
        uploads = [a for a in world.fiken.attachments if a.journal_entry_id is not None]
        assert [a.journal_entry_id for a in uploads] == [entry["journalEntryId"]]
    elif kind != "receipt":
        purchase = world.fiken.purchases_with_reference(reference(proposal_id))[0]
        assert len(purchase.get("purchaseAttachments") or []) == 1
    # Nothing else was created remotely along the way.
    if kind in ("invoice", "credit_note"):
        assert len(world.fiken.contacts) == 1
    if kind == "receipt":
        assert world.folio.attachments_on(event_id or "")[0].filename


async def test_the_rate_checking_fake_never_saw_two_requests_at_once(
    fiken_server: FikenServer, folio_server: tuple[FakeFolio, str]
) -> None:
    """Approved invoices executed by two executors at once, with Fiken's real limits: the
    one client per token serialises them, and the fake never sees two requests at once or
    more than four in a second."""
    world = World(fiken_server, folio_server, fast=False)
    harness = world.harness
    ids = []
    for n in range(2):
        document = await harness.store(content=b"%PDF-1.7\n" + str(n).encode() + b"\n%%EOF\n")
        ids.append(
            await harness.approved(invoice(document, account_code="6900", invoice_number=f"F-{n}"))
        )
    await asyncio.gather(world.executor("a").run_once(), world.executor("b").run_once())
    for proposal_id in ids:
        assert (await harness.view(proposal_id)).status is Status.EXECUTED
        assert len(world.fiken.purchases_with_reference(reference(proposal_id))) == 1
    await world.close()
    assert world.fiken.concurrent_violations == 0
    assert world.fiken.max_requests_in_any_second() <= 4


@pytest.mark.parametrize("kind", ["invoice", "expense", "credit_note"])
async def test_a_document_is_attached_once_when_fiken_names_no_file(
    world: World, kind: str
) -> None:
    """A Fiken whose attachments' download URLs are file ids only (the spec's attachment
    has no file name, and nothing says its URL ends in one): a crash after the document
    was attached, and the restarted attempt finds the object by our reference and must
    not attach the document a second time."""
    world.fiken.download_urls = "opaque"
    harness = world.harness
    proposal_id, event_id = await _approved(world, kind)
    _, method = _last_remote_call(kind)
    crashing = Crashing(world.books, method)
    with pytest.raises(SimulatedCrash):
        await _until_crash(world.executor("doomed", books=crashing), harness)

    view = await _run_until_settled(world, proposal_id)

    assert view.status is Status.EXECUTED, view.last_error
    assert _remote_objects(world, kind, proposal_id, event_id) == 1
    assert len(world.fiken.attachments) == 1


@pytest.mark.parametrize("kind", ["invoice", "expense", "credit_note"])
@pytest.mark.parametrize("status", [400, 413])
async def test_a_document_fiken_refuses_leaves_the_booking_executed_and_alerts(
    world: World, kind: str, status: int
) -> None:
    """The purchase (or journal entry) is in Fiken, but Fiken refuses its document for
    good (a file too large, a validation error): the booking is not undone by failing the
    proposal, which would leave Fiken holding an entry our ledger never posted. It is
    EXECUTED with its ids and posting, and an alert says the document must be attached
    by hand."""
    harness = world.harness
    proposal_id, event_id = await _approved(world, kind)
    world.fiken.fail_next(1, status=status, method="POST", path=r"/attachments$")

    view = await _run_until_settled(world, proposal_id)

    assert view.status is Status.EXECUTED, view.last_error
    assert _remote_objects(world, kind, proposal_id, event_id) == 1
    assert world.fiken.attachments == []
    postings = [p for p in await harness.postings() if p.proposal_id == str(proposal_id)]
    assert len(postings) == 1
    alerts = [
        e.data
        for e in await harness.all_events()
        if isinstance(e.data, AlertRaisedData) and e.data.proposal_id == str(proposal_id)
    ]
    assert [a.code for a in alerts] == ["document-not-attached"]
    assert reference(proposal_id) in alerts[0].message
    assert str(status) in alerts[0].message


@pytest.mark.parametrize("kind", ["invoice", "expense"])
async def test_a_correction_fiken_refuses_leaves_the_original_purchase_standing(
    world: World, kind: str
) -> None:
    """A correction whose corrected purchase Fiken refuses for good (an account or a date
    it will not take): the correction fails, and the original purchase is still live in
    Fiken, as it is still booked in our ledger. (It was deleted first, so Fiken had
    neither the original nor the correction while the ledger kept the original.)"""
    harness = world.harness
    target, _ = await _approved(world, kind)
    assert (await _run_until_settled(world, target)).status is Status.EXECUTED
    [original] = world.fiken.purchases_with_reference(reference(target))
    fixed = await harness.approved(correction(target, account_code="6800"))
    world.fiken.fail_next(1, status=400, method="POST", path=r"/purchases$")

    view = await _run_until_settled(world, fixed)

    assert view.status is Status.FAILED
    assert not world.fiken.purchases[original["purchaseId"]]["deleted"]
    assert world.fiken.purchases_with_reference(reference(fixed)) == []
    assert (await harness.view(target)).status is Status.EXECUTED


async def test_a_correction_whose_target_fiken_will_not_delete_withdraws_its_purchase(
    world: World,
) -> None:
    """The corrected purchase is registered, but Fiken refuses to delete the original (a
    locked period, say): the correction fails, and its new purchase is deleted again, so
    the books hold the original alone, as the ledger does."""
    target, _ = await _approved(world, "invoice")
    assert (await _run_until_settled(world, target)).status is Status.EXECUTED
    [original] = world.fiken.purchases_with_reference(reference(target))
    fixed = await world.harness.approved(correction(target, account_code="6800"))
    world.fiken.fail_next(1, status=400, method="PATCH", path=rf"/{original['purchaseId']}/delete$")

    view = await _run_until_settled(world, fixed)

    assert view.status is Status.FAILED
    assert not world.fiken.purchases[original["purchaseId"]]["deleted"]
    [replacement] = world.fiken.purchases_with_reference(reference(fixed))
    assert replacement["deleted"]


@pytest.mark.parametrize("status", [502, 503])
async def test_a_fiken_outage_that_says_when_it_ends_is_retried_then(
    world: World, status: int
) -> None:
    """A 5xx with Retry-After (RFC 9110: how long the service expects to be down): the
    next attempt is due no earlier than that, as after a 429's — retrying at the usual 30 s
    back-off only spends the proposal's attempts against a Fiken that said it is down."""
    harness = world.harness
    proposal_id, _ = await _approved(world, "invoice")
    world.fiken.fail_next(1, status=status, method="POST", path=r"/purchases$", retry_after=900)
    started = harness.clock.now()

    await world.executor("first").run_once()

    [failed] = [
        e.data for e in await harness.stream(proposal_id) if isinstance(e.data, ExecutionFailedData)
    ]
    assert failed.retryable
    assert failed.next_attempt_at >= started + dt.timedelta(seconds=900)


class RefusingComplete:
    """A Bank whose mark_complete Folio refuses for good (a ledger category that wants a
    purpose first, say), everything else as the real adapter does it."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.name = inner.name

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def mark_complete(self, event_id: str) -> None:
        raise ExternalRejected("Folio POST /events/…/complete answered 400", system="folio")


async def test_a_receipt_folio_will_not_mark_complete_is_still_booked(world: World) -> None:
    """The receipt is attached to its bank event, but Folio refuses to mark the event
    complete: the attachment stands (Folio's API cannot remove it), so failing the
    proposal would leave a receipt in the bank our ledger never posted. EXECUTED, posted,
    and an alert says the event must be completed by hand."""
    harness = world.harness
    proposal_id, event_id = await _approved(world, "receipt")
    await world.executor("one", bank=RefusingComplete(world.bank)).run_once()

    view = await harness.view(proposal_id)
    assert view.status is Status.EXECUTED, view.last_error
    assert _remote_objects(world, "receipt", proposal_id, event_id) == 1
    postings = [p for p in await harness.postings() if p.proposal_id == str(proposal_id)]
    assert len(postings) == 1
    alerts = [
        e.data
        for e in await harness.all_events()
        if isinstance(e.data, AlertRaisedData) and e.data.proposal_id == str(proposal_id)
    ]
    assert [a.code for a in alerts] == ["bank-event-not-complete"]
    assert event_id is not None and event_id in alerts[0].message


RETRY_CASES = [(k, c) for k in KINDS for c in ("none", "after_claim", "after_remote_2xx")]


@pytest.mark.parametrize(("kind", "crash"), RETRY_CASES, ids=["-".join(c) for c in RETRY_CASES])
async def test_a_failed_proposal_retried_by_a_person_is_carried_out_once(
    world: World, kind: str, crash: str
) -> None:
    """ADR 0009 addendum: the first write took effect but its answer was a 502, the next
    attempt met a revoked token (401: FAILED for good); a reviewer retries it, and the
    retried attempt is claimed and lost, or crashes after its last write answered. The end
    state is the matrix's: EXECUTED, one remote object, one posting."""
    harness = world.harness
    proposal_id, event_id = await _approved(world, kind)
    _inject(world, kind, "5xx_after_commit")
    assert (await world.executor("first").run_once()).retried == 1
    harness.clock.advance(minutes=61)
    if kind == "receipt":
        world.folio.fail_next(1, status=401)
    else:
        world.fiken.fail_next(1, status=401)
    assert (await world.executor("second").run_once()).failed == 1
    assert (await harness.view(proposal_id)).status is Status.FAILED
    assert _remote_objects(world, kind, proposal_id, event_id) == 1

    await harness.handlers.retry(RetryExecution(principal=reviewer(), proposal_id=proposal_id))
    port, method = _last_remote_call(kind)
    if crash == "after_claim":
        claims = await world.executor("doomed").claim(harness.clock.now())
        assert [c.proposal_id for c in claims] == [proposal_id]
    elif crash == "after_remote_2xx":
        crashing = Crashing(world.bank if port == "bank" else world.books, method)
        doomed = (
            world.executor("doomed", bank=crashing)
            if port == "bank"
            else world.executor("doomed", books=crashing)
        )
        with pytest.raises(SimulatedCrash):
            await _until_crash(doomed, harness)

    view = await _run_until_settled(world, proposal_id)

    assert view.status is Status.EXECUTED, view.last_error
    assert _remote_objects(world, kind, proposal_id, event_id) == 1
    postings = [p for p in await harness.postings() if p.proposal_id == str(proposal_id)]
    assert len(postings) == 1
