"""ADR 0051: a foreign-currency document is never booked as if its amount were NOK.

Its NOK amount comes from the exchange-rate source, else from the bank transaction that
paid it, else from the reviewer who approves it; without one it waits for a person, is
not approved and is not posted."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest

from bookkeeper.adapters.sandbox import SandboxBooks
from bookkeeper.adapters.sandbox.seed import BOOKS_BANK_ACCOUNT_CODE
from bookkeeper.adapters.sandbox.store import MemorySandboxStore
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.commands import SubmitEvent
from bookkeeper.application.errors import ExternalRejected
from bookkeeper.application.handlers import Handlers
from bookkeeper.application.ports import BankTransaction, NewPurchase, PurchaseLine
from bookkeeper.application.postings import booked_in_nok
from bookkeeper.domain.errors import (
    InvalidCorrection,
    InvalidProposal,
    NokAmountMissing,
    NokAmountStale,
)
from bookkeeper.domain.events import Corrections, Status
from bookkeeper.domain.ledger import TAX
from bookkeeper.domain.money import kroner_text
from bookkeeper.domain.proposals import validate
from tests.unit.conftest import FixedClock
from tests.unit.external_doubles import Harness, agent, expense, receipt
from tests.unit.test_rules_compliance import PublishedRates

DAY = dt.date(2026, 11, 18)


class ListedBank:
    """A bank whose event listing holds the given events (the receipt check's read)."""

    def __init__(self, *events: BankTransaction) -> None:
        self.listed = list(events)

    async def events(self, start: dt.date, end: dt.date) -> list[BankTransaction]:
        return [e for e in self.listed if start <= e.date <= end]


def card_payment(amount: str, currency: str = "NOK", event_id: str = "ev-1") -> BankTransaction:
    return BankTransaction(
        id=event_id,
        event_id=event_id,
        date=DAY + dt.timedelta(days=2),  # booked two days after the purchase
        description="OPENAI *CHATGPT SUBSCR",
        amount=Decimal(amount),
        currency=currency,
        merchant_name="OpenAI",
    )


def harness(*, bank: ListedBank | None = None, rates: PublishedRates | None = None) -> Harness:
    h = Harness()

    async def bank_source() -> Any:
        return lambda _tenant: bank

    h.handlers = Handlers(
        h.uow_factory,
        h.clock,
        h.ids,
        RoleAuthorizer(),
        bank_source=bank_source if bank is not None else None,  # type: ignore[arg-type]
        exchange_rates=rates,
    )
    return h


def usd_receipt(sha: str | None, **changes: Any) -> Any:
    fields: dict[str, Any] = {
        "merchant_name": "OpenAI",
        "currency": "USD",
        "amount": Decimal("41.00"),
        "vat_rate": Decimal("0"),
        "date": DAY,
        "folio_event_id": "ev-1",
    }
    fields.update(changes)
    return receipt(sha, **fields)


async def submitted(h: Harness, data: Any) -> Any:
    return await h.handlers.submit(
        SubmitEvent(type="ReceiptAttachmentProposed", data=data, principal=agent())
    )


def credited(entry: Any, account: str) -> Decimal:
    return sum((line.credit for line in entry.lines if line.account == account), Decimal(0))


def debited(entry: Any, account: str) -> Decimal:
    return sum((line.debit for line in entry.lines if line.account == account), Decimal(0))


# --- no rate and no bank payment: a person gives the NOK amount ---------------------------


async def test_without_a_nok_amount_the_receipt_waits_for_a_person_who_is_told_why() -> None:
    h = harness()
    result = await submitted(h, usd_receipt(await h.store()))
    assert result.status is Status.PROPOSED
    assert result.decision.rule == "nok-amount-missing"
    [reason] = [r for r in result.confidence.reasons if r.signal == "nok-amount"]
    assert "USD" in reason.detail and "nokAmount" in reason.detail
    [first] = await h.stream(result.stream_id)
    assert "exchange" not in first.metadata


async def test_it_is_not_approved_without_a_nok_amount() -> None:
    h = harness()
    proposal = (await submitted(h, usd_receipt(await h.store()))).stream_id
    with pytest.raises(NokAmountMissing, match="nokAmount"):
        await h.approve(proposal)
    [first] = await h.stream(proposal)  # nothing was recorded
    assert first.status == "PROPOSED"


async def test_the_reviewers_nok_amount_is_what_the_ledger_books() -> None:
    h = harness()
    sha = await h.store()
    proposal = (await submitted(h, usd_receipt(sha, vat_rate=Decimal("25")))).stream_id
    await h.approve(proposal, corrections=Corrections(nok_amount=Decimal("452.37")))
    _, approved = await h.stream(proposal)
    assert approved.metadata["exchange"] == {
        "currency": "USD",
        "amount": "41.00",
        "nokAmount": "452.37",
        "rate": "11.033415",
        "rateDate": "2026-11-18",
        "source": "reviewer",
        "reference": "human:kari",
    }
    await h.executor.run_once()
    [posted] = await h.postings()
    assert credited(posted, "1920") == Decimal("452.37")
    assert debited(posted, "6810") == Decimal("361.90")  # 452.37 less 25 % VAT in it
    [vat] = [line for line in posted.lines if line.vat_part == TAX]
    assert vat.debit == Decimal("90.47")


async def test_a_nok_amount_is_refused_on_a_nok_document_and_must_be_positive() -> None:
    h = harness()
    nok = await h.propose(receipt(await h.store()))
    with pytest.raises(InvalidCorrection, match="foreign-currency"):
        await h.approve(nok, corrections=Corrections(nok_amount=Decimal("125.00")))
    usd = (await submitted(h, usd_receipt(await h.store(b"%PDF-1.4 other")))).stream_id
    with pytest.raises(InvalidCorrection, match="positive"):
        await h.approve(usd, corrections=Corrections(nok_amount=Decimal("-1")))


@pytest.mark.parametrize("code", ["ABC", "KRN", "EUO"])
async def test_a_currency_iso_4217_does_not_know_is_refused(code: str) -> None:
    """Three capitals are no currency: 'ABC' went to review as a foreign document, was
    approved with a NOK amount and sent to the books in a currency Fiken refuses (FAILED
    for good); the sandbox took it. Refused when proposed, naming the list to look in."""
    h = harness()
    with pytest.raises(InvalidProposal, match=f"currency {code} is not an ISO 4217 currency"):
        await submitted(h, usd_receipt(await h.store(), currency=code))
    assert (await submitted(h, usd_receipt(await h.store(), currency="SEK"))).stream_id


def test_a_correction_of_an_executed_proposal_does_not_carry_a_nok_amount() -> None:
    from tests.unit.external_doubles import correction

    with pytest.raises(InvalidProposal, match="nokAmount"):
        validate(correction(uuid.uuid4(), nok_amount=Decimal("10.00")))


def test_the_ledger_never_books_currency_amounts_as_nok() -> None:
    with pytest.raises(NokAmountMissing):
        booked_in_nok(usd_receipt(None), None)
    nok = receipt(None)
    assert booked_in_nok(nok, None) is nok


# --- the bank paid it in NOK ---------------------------------------------------------------


async def test_the_bank_payment_in_nok_is_the_receipts_nok_amount() -> None:
    h = harness(bank=ListedBank(card_payment("-440.00")))
    result = await submitted(h, usd_receipt(await h.store()))
    assert result.decision.rule != "nok-amount-missing"
    assert not [r for r in result.confidence.reasons if r.signal in ("nok-amount", "bank-mismatch")]
    [first] = await h.stream(result.stream_id)
    assert first.metadata["exchange"] == {
        "currency": "USD",
        "amount": "41.00",
        "nokAmount": "440.00",
        "rate": "10.731707",
        "rateDate": "2026-11-20",
        "source": "bank",
        "reference": "ev-1",
    }
    await h.approve(result.stream_id)  # no correction needed
    await h.executor.run_once()
    [posted] = await h.postings()
    assert credited(posted, "1920") == Decimal("440.00")
    assert debited(posted, "6810") == Decimal("440.00")


async def test_a_pending_payment_in_the_currency_or_money_in_gives_no_nok_amount() -> None:
    for event in (card_payment("-41.00", "USD"), card_payment("41.00")):
        h = harness(bank=ListedBank(event))
        result = await submitted(h, usd_receipt(await h.store()))
        assert result.decision.rule == "nok-amount-missing", event


async def test_a_bank_event_that_disagrees_is_not_taken_as_the_nok_amount() -> None:
    h = harness(bank=ListedBank(card_payment("-440.00")))
    # A month later than the payment: not the receipt it paid.
    result = await submitted(h, usd_receipt(await h.store(), date=DAY - dt.timedelta(days=40)))
    assert result.decision.rule == "nok-amount-missing"


async def test_a_payment_booked_in_nok_after_submission_is_found_on_approval() -> None:
    bank = ListedBank(card_payment("-41.00", "USD"))  # still pending, in dollars
    h = harness(bank=bank)
    proposal = (await submitted(h, usd_receipt(await h.store()))).stream_id
    bank.listed = [card_payment("-440.00")]  # booked since, in NOK
    await h.approve(proposal)
    _, approved = await h.stream(proposal)
    assert approved.metadata["exchange"]["nokAmount"] == "440.00"
    assert approved.metadata["exchange"]["source"] == "bank"


class SilentRates(PublishedRates):
    """A rate source that cannot answer until `back` is set."""

    back = False

    async def to_nok(self, currency: str, day: dt.date) -> Any:
        if not self.back:
            from bookkeeper.application.errors import ExternalUnavailable

            raise ExternalUnavailable("Norges Bank is down", system="norges-bank")
        return await super().to_nok(currency, day)


async def test_a_rate_source_that_answers_again_gives_the_rate_on_approval() -> None:
    rates = SilentRates({"USD": Decimal("10.9")})
    h = harness(rates=rates)
    proposal = (await submitted(h, usd_receipt(await h.store()))).stream_id
    rates.back = True
    await h.approve(proposal)
    _, approved = await h.stream(proposal)
    assert approved.metadata["exchange"] == {
        "currency": "USD",
        "amount": "41.00",
        "nokAmount": "446.90",
        "rate": "10.9",
        "rateDate": "2026-11-18",
    }
    await h.executor.run_once()
    [posted] = await h.postings()
    assert credited(posted, "1920") == Decimal("446.90")


# --- the exchange-rate source answers: as before, and it comes first ----------------------


async def test_a_published_rate_comes_before_the_bank_and_is_checked_against_it() -> None:
    rates = PublishedRates({"USD": Decimal("10.9")})
    h = harness(bank=ListedBank(card_payment("-452.00")), rates=rates)
    result = await submitted(h, usd_receipt(await h.store()))
    [first] = await h.stream(result.stream_id)
    assert first.metadata["exchange"] == {
        "currency": "USD",
        "amount": "41.00",
        "nokAmount": "446.90",
        "rate": "10.9",
        "rateDate": "2026-11-18",
    }
    # 452.00 kr paid for 446.90 kr at the rate (card fees): the payment agrees.
    assert not [r for r in result.confidence.reasons if r.signal == "bank-mismatch"]
    far = harness(bank=ListedBank(card_payment("-900.00")), rates=rates)
    off = await submitted(far, usd_receipt(await far.store()))
    assert [r.signal for r in off.confidence.reasons if r.signal == "bank-mismatch"] == [
        "bank-mismatch"
    ]


async def test_a_reviewer_may_give_the_nok_amount_paid_over_the_published_rate() -> None:
    h = harness(rates=PublishedRates({"EUR": Decimal("11.5")}))
    data = expense(await h.store(), currency="EUR", amount=Decimal("100.00"), date=DAY)
    proposal = await h.propose(data)
    await h.approve(proposal, corrections=Corrections(nok_amount=Decimal("1162.40")))
    await h.executor.run_once()
    [posted] = await h.postings()
    assert credited(posted, "1920") == Decimal("1162.40")


# --- the sandbox books post NOK --------------------------------------------------------------


async def test_the_sandbox_books_post_a_foreign_purchase_in_nok_and_refuse_one_without() -> None:
    books = SandboxBooks(MemorySandboxStore(), "acme", FixedClock())

    def purchase(reference: str, **nok: Decimal) -> NewPurchase:
        line = PurchaseLine(
            description="Hotell",
            net=Decimal("80.00"),
            vat=Decimal("20.00"),
            vat_type="HIGH",
            account="7140",
            **nok,
        )
        return NewPurchase(
            kind="cash_purchase",
            date=DAY,
            currency="EUR",
            lines=(line,),
            reference=reference,
            paid=True,
            payment_account=BOOKS_BANK_ACCOUNT_CODE,
        )

    before = {b.code: b.balance for b in await books.account_balances(DAY)}
    await books.create_purchase(
        purchase("bk-0001", net_nok=Decimal("920.00"), vat_nok=Decimal("230.00"))
    )
    after = {b.code: b.balance for b in await books.account_balances(DAY)}
    moved = {code: after[code] - before.get(code, Decimal(0)) for code in after}
    assert moved["7140"] == Decimal("920.00")
    assert moved[BOOKS_BANK_ACCOUNT_CODE] == Decimal("-1150.00")
    with pytest.raises(ExternalRejected, match="NOK amounts"):
        await books.create_purchase(purchase("bk-0002"))


async def test_one_approved_before_the_rule_fails_untouched_instead_of_posting_dollars() -> None:
    """A foreign-currency receipt approved without a NOK amount (before ADR 0051): the
    executor refuses it before the bank is touched, and nothing is posted."""
    from bookkeeper.application.event_log import following
    from bookkeeper.domain.proposals import Proposal

    h = harness()
    proposal_id = (await submitted(h, usd_receipt(await h.store()))).stream_id
    async with h.uow_factory() as uow:  # the approval as the old handler recorded it
        events = await uow.events.read_stream("acme", proposal_id)
        proposal = Proposal.rehydrate(str(proposal_id), events)
        proposal.approve(actor="human:kari")
        new = following(events, proposal.pending, ids=h.ids, at=h.clock.now())
        await uow.commit_proposal("acme", proposal_id, events, new)
    await h.executor.run_once()
    assert await h.postings() == []
    assert not h.world.bank("acme").attached
    async with h.uow_factory() as uow:
        view = await uow.proposals.get("acme", proposal_id)
    assert view is not None and view.status is Status.FAILED
    assert "no NOK amount" in (view.last_error or "")


# --- limits and corrections are in NOK (ADR 0051 addendum) --------------------------------


async def learned(h: Harness, merchant: str = "OpenAI") -> None:
    """A human-approved pattern for the merchant: what automatic approval needs."""
    from bookkeeper.domain.events import PatternSuggestionData

    suggested = await h.handlers.submit(
        SubmitEvent(
            type="PatternSuggested",
            data=PatternSuggestionData(
                merchant=merchant, account_code="6810", vat_rate=Decimal("0")
            ),
            principal=agent(),
        )
    )
    await h.approve(suggested.stream_id)


async def test_the_automatic_limit_weighs_the_nok_amount_not_the_dollars() -> None:
    h = harness(rates=PublishedRates({"USD": Decimal("10.9")}))
    await learned(h)
    # 900 USD is 9 810.00 kr: under the automatic limit of 10 000 kr.
    under = await submitted(h, usd_receipt(await h.store(), amount=Decimal("900.00")))
    assert under.decision.rule == "auto-approve-known-pattern"
    # 1 000 USD is 10 900.00 kr: above it, though 1 000 is not.
    above = await submitted(
        h, usd_receipt(await h.store(b"%PDF-1.4 other"), amount=Decimal("1000.00"))
    )
    assert above.status is Status.PROPOSED
    assert above.decision.rule == "above-auto-approval-limit"
    assert above.decision.explanation.startswith(f"amount {kroner_text(Decimal('10900.00'))}")


async def test_a_foreign_document_without_a_nok_amount_is_never_approved_automatically() -> None:
    h = harness()
    await learned(h)
    result = await submitted(h, usd_receipt(await h.store(), amount=Decimal("5.00")))
    assert result.status is Status.PROPOSED
    assert result.decision.rule == "nok-amount-missing"


async def test_a_corrected_amount_is_converted_at_the_same_published_rate() -> None:
    h = harness(rates=PublishedRates({"USD": Decimal("10.9")}))
    proposal = (await submitted(h, usd_receipt(await h.store()))).stream_id
    await h.approve(proposal, corrections=Corrections(amount=Decimal("50.00")))
    _, approved = await h.stream(proposal)
    assert approved.metadata["exchange"] == {
        "currency": "USD",
        "amount": "50.00",
        "nokAmount": "545.00",
        "rate": "10.9",
        "rateDate": "2026-11-18",
    }
    await h.executor.run_once()
    [posted] = await h.postings()
    assert credited(posted, "1920") == Decimal("545.00")  # not the 446.90 of 41.00 USD


async def test_a_corrected_amount_needs_a_new_nok_amount_when_the_bank_gave_it() -> None:
    h = harness(bank=ListedBank(card_payment("-440.00")))
    proposal = (await submitted(h, usd_receipt(await h.store()))).stream_id
    with pytest.raises(NokAmountStale, match=r"41\.00 to 50\.00.*nokAmount"):
        await h.approve(proposal, corrections=Corrections(amount=Decimal("50.00")))
    [first] = await h.stream(proposal)  # nothing was recorded
    assert first.status == "PROPOSED"
    await h.approve(
        proposal, corrections=Corrections(amount=Decimal("50.00"), nok_amount=Decimal("531.50"))
    )
    _, approved = await h.stream(proposal)
    assert approved.metadata["exchange"]["amount"] == "50.00"
    assert approved.metadata["exchange"]["nokAmount"] == "531.50"
    assert approved.metadata["exchange"]["source"] == "reviewer"
    await h.executor.run_once()
    [posted] = await h.postings()
    assert credited(posted, "1920") == Decimal("531.50")


async def test_an_unchanged_amount_keeps_the_banks_nok_amount() -> None:
    h = harness(bank=ListedBank(card_payment("-440.00")))
    proposal = (await submitted(h, usd_receipt(await h.store()))).stream_id
    await h.approve(proposal, corrections=Corrections(amount=Decimal("41"), account_code="6540"))
    await h.executor.run_once()
    [posted] = await h.postings()
    assert credited(posted, "1920") == Decimal("440.00")


def test_the_ledger_books_a_corrected_amount_at_the_rate_and_refuses_a_stale_nok_amount() -> None:
    from bookkeeper.domain.rules import Exchange, implied_exchange

    published = Exchange(
        currency="USD",
        amount=Decimal("41.00"),
        nok_amount=Decimal("446.90"),
        rate=Decimal("10.9"),
        rate_date=DAY,
    )
    corrected = usd_receipt(None, amount=Decimal("50.00"))
    assert booked_in_nok(corrected, published).amount == Decimal("545.00")
    paid = implied_exchange(
        "USD", Decimal("41.00"), Decimal("440.00"), day=DAY, source="bank", reference="ev-1"
    )
    assert booked_in_nok(usd_receipt(None), paid).amount == Decimal("440.00")
    with pytest.raises(NokAmountStale):
        booked_in_nok(corrected, paid)


async def executed(h: Harness, proposal: uuid.UUID) -> None:
    await h.executor.run_once()
    view = await h.view(proposal)
    assert view.status is Status.EXECUTED, view.last_error


async def test_a_post_execution_correction_of_the_amount_is_booked_at_the_published_rate() -> None:
    from tests.unit.external_doubles import correction

    h = harness(rates=PublishedRates({"USD": Decimal("10.9")}))
    proposal = (await submitted(h, usd_receipt(await h.store()))).stream_id
    await h.approve(proposal)
    await executed(h, proposal)
    fix = await h.propose(correction(proposal, amount=Decimal("50.00")))
    await h.approve(fix)
    await h.executor.run_once()
    entries = await h.postings()
    # the original, its mirror, and the corrected entry at 10.9 on 50.00 USD
    assert [credited(e, "1920") for e in entries] == [
        Decimal("446.90"),
        Decimal("0"),
        Decimal("545.00"),
    ]


async def test_a_post_execution_correction_of_the_amount_is_refused_over_a_banks_nok() -> None:
    from tests.unit.external_doubles import correction

    h = harness(bank=ListedBank(card_payment("-440.00")))
    proposal = (await submitted(h, usd_receipt(await h.store()))).stream_id
    await h.approve(proposal)
    await executed(h, proposal)
    with pytest.raises(NokAmountStale, match="reverse it"):
        await h.propose(correction(proposal, amount=Decimal("50.00")))
    # Other fields are still corrected as before.
    await h.propose(correction(proposal, account_code="6540"))


async def test_a_reversal_is_weighed_by_its_targets_nok_amount() -> None:
    from bookkeeper.application.commands import ApproveProposal
    from bookkeeper.application.ports import Principal
    from bookkeeper.domain.approval import ApprovalLimitExceeded
    from bookkeeper.domain.events import ReversalData

    h = harness(rates=PublishedRates({"USD": Decimal("10.9")}))
    proposal = (
        await submitted(h, usd_receipt(await h.store(), amount=Decimal("1000.00")))
    ).stream_id
    await h.approve(proposal)
    await executed(h, proposal)
    reversal = await h.propose(ReversalData(target_proposal_id=str(proposal), reason="wrong"))

    def limited(limit: str) -> Principal:
        return Principal(
            subject="kari",
            tenant_id="acme",
            roles=frozenset({"reviewer"}),
            attributes={"approval_limit": limit},
        )

    # 1 000 USD is 10 900.00 kr booked: above a 5 000 kr limit, under an 11 000 kr one.
    with pytest.raises(ApprovalLimitExceeded, match=kroner_text(Decimal("10900.00"))):
        await h.handlers.approve(ApproveProposal(principal=limited("5000"), proposal_id=reversal))
    await h.handlers.approve(ApproveProposal(principal=limited("11000"), proposal_id=reversal))
    assert (await h.view(reversal)).status is Status.APPROVED


async def test_the_usual_range_weighs_the_nok_amount_and_says_both() -> None:
    """The usual range is in NOK: 5,000 USD at 10.9 is 54,500 kr, above the default 50,000
    kr, though 5,000 is inside it; without a NOK amount the range weighs nothing."""
    h = harness(rates=PublishedRates({"USD": Decimal("10.9")}))
    result = await submitted(h, usd_receipt(await h.store(), amount=Decimal("5000.00")))
    [band] = [r for r in result.confidence.reasons if r.signal == "amount"]
    assert band.effect == Decimal("-0.25")
    assert band.detail == (
        f"{kroner_text(Decimal('54500.00'))} ({kroner_text(Decimal('5000.00'), 'USD')}) is "
        f"outside the usual range {kroner_text(Decimal('1'))}–{kroner_text(Decimal('50000'))}"
    )
    without = harness()
    unrated = await submitted(without, usd_receipt(await without.store()))
    [band] = [r for r in unrated.confidence.reasons if r.signal == "amount"]
    assert band.effect == 0 and "not weighed" in band.detail
