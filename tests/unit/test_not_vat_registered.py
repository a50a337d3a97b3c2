"""A company outside the VAT register (ADR 0056, addendum 4) on the in-memory ports: it
deducts no input VAT (a receipt of 1 250 kr with 250 kr VAT is a cost of 1 250 kr), accounts
for no reverse charge, books no VAT code carrying VAT (REST or bus) and files no VAT return
(the report, the morning check and the chat say so). The reviewer is refused in words it
reads: the API's problem, Discord's Korriger modal and the chat's approval alike."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal as D
from typing import Any

import pytest

from bookkeeper.adapters.system import UuidV7Ids
from bookkeeper.application import messages as m
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.commands import ApproveProposal, SubmitEvent
from bookkeeper.application.failures import explain_error
from bookkeeper.application.ledger import LedgerService
from bookkeeper.application.morning import compose_summary
from bookkeeper.application.pipeline import (
    NOT_VAT_REGISTERED_VAT_WARNING,
)
from bookkeeper.application.ports import ExtractedLine, Extraction
from bookkeeper.domain.events import Corrections, MorningCheckRanData
from bookkeeper.domain.ledger import InvalidJournalEntry
from bookkeeper.domain.review import ReviewRules
from bookkeeper.domain.vat_registration import (
    NOT_VAT_REGISTERED,
    NOT_VAT_REGISTERED_REASON,
    NotVatRegistered,
    check_entry,
)
from tests.unit.conftest import FixedClock, credit, debit, principal
from tests.unit.external_doubles import PDF, Harness, agent, expense, invoice, receipt, reviewer
from tests.unit.pipeline_doubles import DAY, ExtractorDouble, pipeline_without_bank
from tests.unit.test_morning_cron import morning_check

ACCOUNTANT = principal("anna", "accountant")
NOT_REGISTERED = ReviewRules(vat_registered=False)


async def _not_registered(harness: Harness, tenant: str = "acme") -> None:
    async with harness.uow_factory() as uow:
        await uow.settings.save_review_rules(tenant, NOT_REGISTERED, harness.clock.now())
        await uow.commit()


def _receipt(**fields: Any) -> Extraction:
    base: dict[str, Any] = {
        "extractor": "double",
        "document_type": "receipt",
        "merchant_name": "Clas Ohlson AS",
        "organization_number": "947270538",
        "date": DAY,
        "currency": "NOK",
        "gross": D("1250.00"),
        "vat_amount": D("250.00"),
        "vat_rate": D("25"),
        "confidence": D("0.9"),
    }
    base.update(fields)
    return Extraction(**base)


async def _proposed(
    extraction: Extraction, *, registered: bool = False
) -> tuple[Harness, dict[str, Any], list[str], list[dict[str, Any]]]:
    harness = Harness()
    if not registered:
        await _not_registered(harness)
    pipeline = pipeline_without_bank(harness, ExtractorDouble(extraction))
    result = await pipeline.process(agent(), PDF, "application/pdf", "receipt.pdf")
    view = await harness.view(result.proposal.id)
    assert result.proposal.confidence is not None
    reasons = [
        {"signal": r.signal, "effect": r.effect, "detail": r.detail}
        for r in result.proposal.confidence.reasons
    ]
    return harness, view.data, list(result.warnings), reasons


# --- the proposal ---------------------------------------------------------------------------


async def test_a_receipt_with_vat_is_proposed_as_a_cost_of_its_gross_at_zero() -> None:
    _, data, warnings, reasons = await _proposed(_receipt())
    assert (data["amount"], data["vatRate"], data["vatAmount"]) == ("1250.00", "0", "0.00")
    assert "lineItems" not in data and "reverseCharge" not in data
    assert NOT_VAT_REGISTERED_VAT_WARNING in warnings
    [reason] = [r for r in reasons if r["signal"] == "vat-registration"]
    assert reason["detail"] == NOT_VAT_REGISTERED_REASON and reason["effect"] == D(0)
    assert "no VAT rate read" not in " ".join(warnings)


async def test_a_registered_company_keeps_its_input_vat() -> None:
    _, data, warnings, reasons = await _proposed(_receipt(), registered=True)
    assert (data["vatRate"], data["vatAmount"]) == ("25", "250.00")
    assert NOT_VAT_REGISTERED_VAT_WARNING not in warnings
    assert not [r for r in reasons if r["signal"] == "vat-registration"]


async def test_a_receipt_of_several_rates_is_one_cost_at_zero() -> None:
    """A grocery receipt at 15 % and 25 % (ADR 0052's parts) is one line at 0 %."""
    lines = (
        ExtractedLine(description="Mat", gross=D("115.00"), vat_rate=D("15")),
        ExtractedLine(description="Pant og poser", gross=D("125.00"), vat_rate=D("25")),
    )
    _, data, warnings, _ = await _proposed(
        _receipt(gross=D("240.00"), vat_amount=D("40.00"), vat_rate=None, lines=lines)
    )
    assert (data["vatRate"], data["vatAmount"]) == ("0", "0.00")
    assert "lineItems" not in data
    assert NOT_VAT_REGISTERED_VAT_WARNING in warnings


async def test_an_invoices_lines_are_kept_at_zero() -> None:
    lines = (
        ExtractedLine(description="Konsulenttimer", gross=D("1000.00"), vat_rate=D("25")),
        ExtractedLine(description="Reise", gross=D("250.00"), vat_rate=D("25")),
    )
    _, data, _, _ = await _proposed(
        _receipt(document_type="invoice", due_date=DAY + dt.timedelta(days=14), lines=lines)
    )
    assert (data["vatRate"], data["vatAmount"]) == ("0", "0.00")
    assert [(i["amount"], i["vatRate"]) for i in data["lineItems"]] == [
        ("1000.00", "0"),
        ("250.00", "0"),
    ]


async def test_a_receipt_without_vat_gets_no_warning_but_is_told_why() -> None:
    _, data, warnings, reasons = await _proposed(
        _receipt(vat_amount=None, vat_rate=None, gross=D("300.00"))
    )
    assert (data["vatRate"], data["vatAmount"]) == ("0", "0.00")
    assert NOT_VAT_REGISTERED_VAT_WARNING not in warnings
    assert [r["signal"] for r in reasons].count("vat-registration") == 1


# --- submission and approval ----------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        receipt(None, vat_amount=D("16.30")),
        invoice(),
        expense(),
        invoice(vat_rate=D("0"), reverse_charge=True, supplier_org_number=None),
    ],
    ids=["receipt", "invoice", "expense", "reverse-charge"],
)
async def test_a_purchase_with_vat_is_refused_at_submission(data: Any) -> None:
    harness = Harness()
    await _not_registered(harness)
    type_ = {
        "ReceiptAttachmentData": "ReceiptAttachmentProposed",
        "InvoiceRegistrationData": "InvoiceRegistrationProposed",
        "ExpenseRegistrationData": "ExpenseRegistrationProposed",
    }[type(data).__name__]
    with pytest.raises(NotVatRegistered, match="not VAT-registered"):
        await harness.handlers.submit(SubmitEvent(type=type_, data=data, principal=agent()))


async def _zero_invoice(harness: Harness) -> uuid.UUID:
    data = invoice(vat_rate=D("0"), vat_amount=D("0.00"))
    result = await harness.handlers.submit(
        SubmitEvent(type="InvoiceRegistrationProposed", data=data, principal=agent())
    )
    return result.stream_id


@pytest.mark.parametrize(
    "corrections",
    [
        Corrections(vat_rate=D("25")),
        Corrections(vat_amount=D("250.00")),
        Corrections(reverse_charge=True),
    ],
    ids=["rate", "vat-amount", "reverse-charge"],
)
async def test_a_correction_adding_vat_is_refused_and_nothing_is_recorded(
    corrections: Corrections,
) -> None:
    harness = Harness()
    await _not_registered(harness)
    proposal_id = await _zero_invoice(harness)
    with pytest.raises(NotVatRegistered) as refused:
        await harness.handlers.approve(
            ApproveProposal(principal=reviewer(), proposal_id=proposal_id, corrections=corrections)
        )
    assert refused.value.message == NOT_VAT_REGISTERED
    assert refused.value.code == "not-vat-registered"
    assert (await harness.view(proposal_id)).status.value == "PROPOSED"
    # Said in Norwegian where people decide (Discord, the web page, the chat).
    said = explain_error(refused.value, m.NORWEGIAN)
    assert said.startswith("selskapet er ikke mva-registrert: det har ikke fradrag"), said


async def test_a_correction_to_zero_or_of_the_account_is_approved() -> None:
    harness = Harness()
    await _not_registered(harness)
    proposal_id = await _zero_invoice(harness)
    result = await harness.handlers.approve(
        ApproveProposal(
            principal=reviewer(),
            proposal_id=proposal_id,
            corrections=Corrections(account_code="6540", vat_rate=D("0")),
        )
    )
    assert result.proposal.status.value == "APPROVED"


async def test_a_proposal_kept_from_before_the_company_left_the_register_is_held() -> None:
    """Proposed at 25 % while registered; approved unchanged after the tenant's
    vatRegistered became false: refused until the reviewer corrects the rate to 0."""
    harness = Harness()
    result = await harness.handlers.submit(
        SubmitEvent(type="InvoiceRegistrationProposed", data=invoice(), principal=agent())
    )
    await _not_registered(harness)
    approve = ApproveProposal(principal=reviewer(), proposal_id=result.stream_id)
    with pytest.raises(NotVatRegistered):
        await harness.handlers.approve(approve)
    corrected = await harness.handlers.approve(
        ApproveProposal(
            principal=reviewer(),
            proposal_id=result.stream_id,
            corrections=Corrections(vat_rate=D("0")),
        )
    )
    assert corrected.proposal.status.value == "APPROVED"


# --- journal entries -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "said"),
    [
        (
            [
                debit("6540", "1000.00", vat_code="1", vat_part="base"),
                debit("2710", "250.00", vat_code="1", vat_part="tax"),
                credit("1920", "1250.00"),
            ],
            "lines[0]: the company is not VAT-registered, so VAT code 1 cannot be used",
        ),
        (
            [
                debit("1500", "1250.00"),
                credit("3000", "1000.00", vat_code="3", vat_part="base"),
                credit("2700", "250.00", vat_code="3", vat_part="tax"),
            ],
            "lines[1]: the company is not VAT-registered, so VAT code 3 (output VAT)",
        ),
        (
            [
                debit("6540", "100.00", vat_code="86", vat_part="base"),
                credit("2700", "25.00", vat_code="86", vat_part="tax"),
                debit("2710", "25.00", vat_code="86", vat_part="tax"),
                credit("2400", "100.00"),
            ],
            "lines[0]: the company is not VAT-registered, so VAT code 86 cannot be used",
        ),
    ],
    ids=["input", "output", "reverse-charge"],
)
async def test_an_entry_with_a_vat_code_carrying_vat_is_refused(
    lines: list[Any], said: str
) -> None:
    harness = Harness()
    await _not_registered(harness)
    ledger = LedgerService(harness.uow_factory, harness.clock, UuidV7Ids(), RoleAuthorizer())
    with pytest.raises(InvalidJournalEntry) as refused:
        await ledger.post_manual(ACCOUNTANT, dt.date(2026, 11, 2), "Med mva", lines)
    assert refused.value.message.startswith(said), refused.value.message
    # The catalogue says it in Norwegian.
    norwegian = explain_error(refused.value, m.NORWEGIAN)
    assert "selskapet er ikke mva-registrert" in norwegian, norwegian
    # A registered company books the same entry.
    other = principal("anna", "accountant", tenant="globex")
    posted = await ledger.post_manual(other, dt.date(2026, 11, 2), "Med mva", lines)
    assert posted.entry_id is not None


def test_codes_without_vat_are_a_non_registered_companys_to_use() -> None:
    for code in ("0", "5", "52", "6", "7"):
        check_entry(
            [
                debit("1500", "1000.00"),
                credit("3100", "1000.00", vat_code=code, vat_part="base"),
            ]
        )


# --- no VAT return -------------------------------------------------------------------------


async def test_the_vat_report_has_no_return_and_lists_what_was_booked_apart() -> None:
    harness = Harness()
    ledger = LedgerService(harness.uow_factory, harness.clock, UuidV7Ids(), RoleAuthorizer())
    await ledger.post_manual(
        ACCOUNTANT,
        dt.date(2026, 11, 2),
        "Verktøy",
        [debit("6540", "1250.00", vat_code="0"), credit("1920", "1250.00")],
    )
    registered = await ledger.vat_report(ACCOUNTANT, 2026, 6)
    assert registered.vat_registered is True
    await _not_registered(harness)
    report = await ledger.vat_report(ACCOUNTANT, 2026, 6)
    assert report.vat_registered is False
    assert (report.lines, report.payable, report.input_vat, report.output_vat) == (
        [],
        D("0.00"),
        D("0.00"),
        D("0.00"),
    )
    assert [(ln.vat_code, ln.base) for ln in report.not_in_return] == [("0", D("1250.00"))]


async def test_the_morning_check_gives_no_vat_deadline() -> None:
    clock = FixedClock(dt.datetime(2026, 12, 3, 6, 0, tzinfo=dt.UTC))
    morning, uow = morning_check(clock)
    async with uow() as unit:
        await unit.settings.save_review_rules("acme", NOT_REGISTERED, clock.now())
        await unit.commit()
    summaries = {o.tenant_id: o.summary or "" for o in await morning.run()}
    assert "Neste mva-frist" not in summaries["acme"]
    assert m.text("morning.no_vat_return", m.NORWEGIAN) in summaries["acme"]
    assert "Neste mva-frist: 10.12.2026" in summaries["beta"]


def test_a_summary_without_a_deadline_says_why() -> None:
    data = MorningCheckRanData(
        job="morning", date=dt.date(2026, 12, 3), next_vat_due=None, summary=""
    )
    said = compose_summary(data)
    assert "Mva-frist: ingen — selskapet er ikke mva-registrert" in said


async def test_the_chat_says_there_is_no_vat_return() -> None:
    from tests.unit.test_conversation_vat import vat_chat

    chat = await vat_chat()
    async with chat.harness.uow_factory() as uow:
        await uow.settings.save_review_rules("acme", NOT_REGISTERED, chat.harness.clock.now())
        await uow.commit()
    [reply] = await chat.say("hvor mye mva skal vi betale?")
    assert reply.text == m.text("vat.not_registered", m.NORWEGIAN)
    assert await chat.events("VatQueried") == []
    [reply] = await chat.say("what VAT do we owe?")
    assert reply.text.startswith("The company is not VAT-registered")


def test_the_catalogue_says_the_new_sentences_in_norwegian() -> None:
    for english in (NOT_VAT_REGISTERED_REASON, NOT_VAT_REGISTERED_VAT_WARNING):
        assert m.sentence(english, m.NORWEGIAN).startswith("selskapet er ikke mva-registrert")
    assert m.refusal_form(NOT_VAT_REGISTERED) == ("refusal.not_vat_registered", {})


# --- Discord -------------------------------------------------------------------------------


async def test_discords_korriger_adding_vat_is_refused_in_norwegian() -> None:
    from tests.unit.test_discord_adapter import KARI, Bot, modal, refused

    bot = Bot()
    await _not_registered(bot.chat.harness)
    proposal_id = await bot.document()
    submit = modal(KARI, "correct-modal", proposal_id, account="6540", vat="25")
    await bot.handler.on_interaction(submit)
    said = refused(submit)
    assert "selskapet er ikke mva-registrert" in said, said
    assert await bot.events("ReceiptAttachmentApproved") == []
    fine = modal(KARI, "correct-modal", proposal_id, account="6540", vat="0")
    await bot.handler.on_interaction(fine)
    [approved] = await bot.events("ReceiptAttachmentApproved")
    assert approved.data.corrections.account_code == "6540"


async def test_discords_korriger_modal_offers_no_reverse_charge_to_an_unregistered_company() -> (
    None
):
    """As the review page hides its checkbox: the proposal carries the vat-registration
    reason, so the modal has no "Omvendt avgiftsplikt (ja/nei)" row ("ja" could only be
    refused); the rest of the modal is as for anyone."""
    from tests.unit.test_discord_adapter import KARI, Bot, button

    bot = Bot()
    await _not_registered(bot.chat.harness)
    proposal_id = await bot.document()
    [proposed] = await bot.events("ReceiptAttachmentProposed")
    reasons = proposed.metadata["confidence"]["reasons"]
    assert any(r["signal"] == "vat-registration" for r in reasons)
    assert proposed.data.vat_rate == 0  # what a purchase is offered reverse charge for

    pressed = button(KARI, "correct", proposal_id)
    await bot.handler.on_interaction(pressed)
    call = pressed.interaction.create_modal_response.await_args
    inputs = [c.custom_id for row in call.kwargs["components"] for c in row.components]
    assert inputs == ["account", "vat"]
