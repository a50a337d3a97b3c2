"""A supplier's credit note (ADR 0054): its posting is its invoice's turned round (balanced,
the input VAT reversed at each rate), it is always reviewed, its payload is an invoice's with
a flag that plain invoices never write, the offline reader says what it credits, and the
executor books it in Fiken once, as a journal entry found again after a timeout."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import msgspec
import pytest

from bookkeeper.adapters.discord.handler import review_text
from bookkeeper.adapters.discord.reviews import concerns
from bookkeeper.adapters.extraction.offline import extract_text_fields
from bookkeeper.application import messages as m
from bookkeeper.application.execution import reference
from bookkeeper.domain.errors import InvalidProposal
from bookkeeper.domain.events import (
    ExecutedData,
    InvoiceRegistrationData,
    JournalEntryPostedData,
    Kind,
    LineItem,
    is_credit_note,
    payload_to_builtins,
)
from bookkeeper.domain.ledger import check_balanced, natural_amount, posting_for, saft_vat_code
from bookkeeper.domain.proposals import validate
from bookkeeper.domain.review import DEFAULT_RULES, Outcome, credit_beyond_invoice, decide
from tests.unit.external_doubles import TENANT, Harness, correction, invoice, reversal

D = Decimal
PROPOSAL = "0190f5e2-0000-7000-8000-000000000054"


def credit(**changes: object) -> InvoiceRegistrationData:
    values: dict[str, object] = {
        "supplier": "Elektroservice Nord AS",
        "amount": D("1250.00"),
        "date": dt.date(2026, 12, 3),
        "due_date": dt.date(2026, 12, 3),
        "vat_rate": D("25"),
        "account_code": "6540",
        "invoice_number": "K-10045",
        "credit_note": True,
        "credited_invoice": "10012",
    }
    values.update(changes)
    return InvoiceRegistrationData(**values)  # type: ignore[arg-type]


def sides(entry: JournalEntryPostedData) -> list[tuple[str, str, str, str | None]]:
    return [(ln.account, str(ln.debit), str(ln.credit), ln.vat_code) for ln in entry.lines]


def vat_by_code(entry: JournalEntryPostedData) -> dict[str, Decimal]:
    """The VAT a return counts per code, as the VAT report reads the lines."""
    found: dict[str, Decimal] = {}
    for line in entry.lines:
        if line.vat_code and line.vat_part == "tax":
            amount = natural_amount(saft_vat_code(line.vat_code), line.debit - line.credit)
            found[line.vat_code] = found.get(line.vat_code, D(0)) + amount
    return found


# --- the posting -----------------------------------------------------------------------------


def test_a_credit_note_debits_the_supplier_and_credits_cost_and_input_vat() -> None:
    entry = posting_for(credit(), proposal_id=PROPOSAL, payables_account="2400:20001")
    assert entry is not None
    check_balanced(entry.lines)
    assert sides(entry) == [
        ("6540", "0.00", "1000.00", "1"),
        ("2710", "0.00", "250.00", "1"),
        ("2400:20001", "1250.00", "0.00", None),
    ]
    assert entry.description == "Elektroservice Nord AS kreditnota K-10045"
    assert vat_by_code(entry) == {"1": D("-250.00")}


def test_a_credit_note_is_exactly_its_invoice_turned_round() -> None:
    lines = (
        LineItem(description="Kabel", amount=D("1000.00"), vat_rate=D("25")),
        LineItem(
            description="Servering", amount=D("230.00"), vat_rate=D("15"), account_code="6860"
        ),
        LineItem(description="Gebyr", amount=D("100.00"), vat_rate=D("0"), account_code="7770"),
    )
    as_invoice = posting_for(
        credit(amount=D("1330.00"), line_items=lines, credit_note=msgspec.UNSET,
               credited_invoice=msgspec.UNSET),
        proposal_id=PROPOSAL,
    )  # fmt: skip
    as_credit = posting_for(credit(amount=D("1330.00"), line_items=lines), proposal_id=PROPOSAL)
    assert as_invoice is not None and as_credit is not None
    check_balanced(as_credit.lines)
    assert [(ln.account, ln.debit, ln.credit, ln.vat_code) for ln in as_credit.lines] == [
        (ln.account, ln.credit, ln.debit, ln.vat_code) for ln in as_invoice.lines
    ]
    # Each rate's input VAT is reversed under its own code; the 0 % part has none.
    assert vat_by_code(as_credit) == {"1": D("-200.00"), "11": D("-30.00")}


def test_a_credit_note_at_several_rates_without_an_account_per_part() -> None:
    lines = (
        LineItem(description="15 % mva", amount=D("115.00"), vat_rate=D("15")),
        LineItem(description="25 % mva", amount=D("125.00"), vat_rate=D("25")),
    )
    entry = posting_for(credit(amount=D("240.00"), line_items=lines), proposal_id=PROPOSAL)
    assert entry is not None
    check_balanced(entry.lines)
    credits = {(ln.account, ln.vat_code): ln.credit for ln in entry.lines if ln.credit}
    assert credits == {
        ("6540", "11"): D("100.00"),
        ("2711", "11"): D("15.00"),
        ("6540", "1"): D("100.00"),
        ("2710", "1"): D("25.00"),
    }
    assert [ln.debit for ln in entry.lines if ln.debit] == [D("240.00")]


# --- the payload and the review ----------------------------------------------------------------


def test_an_invoice_writes_no_credit_fields_and_old_json_decodes() -> None:
    plain = payload_to_builtins(invoice())
    assert "creditNote" not in plain and "creditedInvoice" not in plain
    decoded = msgspec.json.decode(msgspec.json.encode(plain), type=InvoiceRegistrationData)
    assert not is_credit_note(decoded)
    flagged = payload_to_builtins(credit())
    assert (flagged["creditNote"], flagged["creditedInvoice"]) == (True, "10012")


def test_only_a_credit_note_names_the_invoice_it_credits() -> None:
    validate(credit())
    with pytest.raises(InvalidProposal, match="creditedInvoice"):
        validate(invoice(credited_invoice="10012"))
    with pytest.raises(InvalidProposal, match="creditedInvoice"):
        validate(credit(credited_invoice="  "))


def test_a_credit_note_is_never_approved_automatically() -> None:
    rules = msgspec.structs.replace(
        DEFAULT_RULES, auto_approvable_kinds=frozenset(Kind), auto_approve_requires_pattern=False
    )
    common: dict[str, object] = {
        "kind": Kind.INVOICE_REGISTRATION,
        "score": D("0.99"),
        "approved_pattern": True,
        "duplicate_suspected": False,
        "amount": D("100.00"),
    }
    assert decide(rules, **common).outcome is Outcome.AUTO_APPROVED  # type: ignore[arg-type]
    held = decide(rules, credit_note=True, **common)  # type: ignore[arg-type]
    assert (held.outcome, held.rule) == (Outcome.AWAITING_REVIEW, "credit-note")


# --- reading -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "number"),
    [
        ("Gjelder faktura 10012 av 15.11.2026", "10012"),
        ("Kreditering av faktura nr. 4711", "4711"),
        ("Ref. fakturanr: 2026-118", "2026-118"),
        ("Refers to invoice no. INV-77", "INV-77"),
    ],
)
def test_the_reader_names_the_invoice_a_credit_note_credits(line: str, number: str) -> None:
    text = (
        "Fjordkontor Rekvisita AS\nOrg.nr: 927713454 MVA\nKREDITNOTA\n"
        f"Kreditnotanummer: 40219\n{line}\nDato: 03.12.2026\n"
        "Kontorstol returnert\t-1 990,00\nMVA 25 %\t-497,50\nÅ kreditere\t-2 487,50\n"
    )
    read = extract_text_fields(text)
    assert read.credit_note and read.document_type == "invoice"
    assert read.credited_invoice == number
    assert read.gross == D("-2487.50")  # as printed; the pipeline makes it a credit


def test_an_invoice_is_no_credit_note() -> None:
    read = extract_text_fields(
        "Fjordkontor Rekvisita AS\nOrg.nr: 927713454 MVA\nFAKTURA\nFakturanr: 40217\n"
        "Dato: 03.12.2026\nForfall: 17.12.2026\nKontorstol\t1 990,00\nMVA 25 %\t497,50\n"
        "Å betale\t2 487,50\n"
    )
    assert not read.credit_note and read.credited_invoice is None


# --- execution ---------------------------------------------------------------------------------


async def test_a_credit_note_is_one_journal_entry_in_the_books() -> None:
    h = Harness()
    pid = await h.approved(credit())
    report = await h.executor.run_once()
    assert report.executed == 1
    books = h.world.books(TENANT)
    assert books.purchases == {}
    [(entry_id, entry)] = books.journal_entries.items()
    payable = next(iter(books.suppliers.values())).supplier_account_code
    assert [(ln.amount, ln.debit_account, ln.credit_account, ln.credit_vat_code)
            for ln in entry.lines] == [
        (D("1250.00"), payable, None, None),
        (D("1250.00"), None, "6540", 1),
    ]  # fmt: skip
    assert entry.reference == reference(pid)
    view = await h.view(pid)
    assert view.external_ids["fikenJournalEntryId"] == entry_id
    [posted] = await h.postings()
    assert [ln.account for ln in posted.lines if ln.debit] == ["2400"]


async def test_a_timed_out_credit_note_is_found_again_not_posted_twice() -> None:
    h = Harness()
    pid = await h.approved(credit())
    h.world.faults.commit_then_timeout(operations={"create_journal_entry"})
    assert (await h.executor.run_once()).retried == 1
    h.clock.advance(seconds=30)
    report = await h.executor.run_once()
    assert report.executed == 1 and report.reconciled == 1
    books = h.world.books(TENANT)
    assert len(books.journal_entries) == 1
    assert books.created_references == {reference(pid): 1}
    executed = (await h.stream(pid))[-1].data
    assert isinstance(executed, ExecutedData) and executed.reconciled
    assert len(await h.postings()) == 1
    assert h.world.duplicates() == []


async def test_a_credit_notes_document_is_attached_to_its_journal_entry() -> None:
    h = Harness()
    pid = await h.approved(credit(document_hash=await h.store()))
    assert (await h.executor.run_once()).executed == 1
    books = h.world.books(TENANT)
    [entry_id] = books.journal_entries
    [name] = books.journal_attachments[entry_id]
    assert reference(pid) in name and name.endswith(".pdf")


@pytest.mark.parametrize("timed_out", ["create_journal_entry", "attach_to_journal_entry"])
async def test_a_retried_credit_note_has_its_document_attached_once(timed_out: str) -> None:
    # Posted but not attached (the post timed out after Fiken committed), or attached
    # but the answer lost: the next attempt finds the entry, and attaches only if missing.
    h = Harness()
    pid = await h.approved(credit(document_hash=await h.store()))
    h.world.faults.commit_then_timeout(operations={timed_out})
    assert (await h.executor.run_once()).retried == 1
    h.clock.advance(seconds=30)
    report = await h.executor.run_once()
    assert report.executed == 1 and report.reconciled == 1
    books = h.world.books(TENANT)
    [entry_id] = books.journal_entries
    assert len(books.journal_attachments[entry_id]) == 1
    assert books.created_references == {reference(pid): 1}
    assert h.world.duplicates() == []


async def test_a_reversed_credit_note_is_cancelled_by_a_counter_entry() -> None:
    h = Harness()
    target = await h.approved(credit())
    await h.executor.run_once()
    pid = await h.approved(reversal(target))
    assert (await h.executor.run_once()).executed == 1
    books = h.world.books(TENANT)
    original, counter = books.journal_entries.values()
    assert counter.reference == f"{reference(pid)}-r"
    # The cost debited at its net under the same code (Fiken adds the VAT), the supplier
    # credited with the gross: what the credit note moved, moved back.
    assert [(ln.amount, ln.debit_account, ln.debit_vat_code, ln.credit_account)
            for ln in counter.lines] == [
        (D("1250.00"), None, None, original.lines[0].debit_account),
        (D("1000.00"), "6540", 1, None),
    ]  # fmt: skip
    async with h.uow_factory() as uow:
        totals = await uow.ledger.trial_balance(TENANT, None, None)
    assert all(t.balance == 0 for t in totals)


# --- the invoice it credits ----------------------------------------------------------------------


async def _first_metadata(h: Harness, proposal_id: object) -> dict[str, object]:
    stream = await h.stream(proposal_id)  # type: ignore[arg-type]
    return dict(stream[0].metadata)


async def test_a_full_credit_names_its_invoice_and_is_no_duplicate_of_it() -> None:
    h = Harness()
    original = await h.propose(invoice(invoice_number="10012", amount=D("1250.00")))
    await h.propose(invoice(supplier="Annen Leverandør AS", invoice_number="10012"))
    same = {"supplier": "Telenor Norge AS", "supplier_org_number": "976967631"}
    first = await h.propose(
        credit(date=dt.date(2026, 11, 3), due_date=dt.date(2026, 11, 3), **same)
    )
    metadata = await _first_metadata(h, first)
    assert metadata["creditedProposal"] == str(original)
    assert list(metadata["confidence"]["duplicateOf"]) == []  # type: ignore[index]
    assert metadata["review"]["rule"] == "credit-note"  # type: ignore[index]
    # The same credit note again is a duplicate of the first, and still names the invoice.
    again = await h.propose(
        credit(date=dt.date(2026, 11, 3), due_date=dt.date(2026, 11, 3), **same)
    )
    metadata = await _first_metadata(h, again)
    assert list(metadata["confidence"]["duplicateOf"]) == [str(first)]  # type: ignore[index]
    assert metadata["creditedProposal"] == str(original)


async def test_a_credit_note_of_an_unknown_invoice_is_proposed_unlinked() -> None:
    h = Harness()
    await h.propose(invoice(invoice_number="10011"))
    pid = await h.propose(credit(supplier="Telenor Norge AS", credited_invoice="10012"))
    assert "creditedProposal" not in await _first_metadata(h, pid)
    assert (await h.view(pid)).status.value == "PROPOSED"


SAME_SUPPLIER = {"supplier": "Telenor Norge AS", "supplier_org_number": "976967631"}


async def test_a_credit_note_for_more_than_its_invoice_is_held_with_both_amounts() -> None:
    h = Harness()
    await h.propose(invoice(invoice_number="10012", amount=D("12345.60")))
    pid = await h.propose(credit(amount=D("99999.00"), **SAME_SUPPLIER))
    metadata = await _first_metadata(h, pid)
    review = metadata["review"]
    assert review["rule"] == "credit-beyond-invoice"  # type: ignore[index]
    # The amounts are a warning (what the reviewer must check), said once: the rule's
    # explanation names the rule, as the other rules' do, without the amounts again.
    [said] = [w for w in metadata["warnings"] if "99 999,00 kr" in w]  # type: ignore[attr-defined]
    assert "12 345,60 kr" in said
    explanation = str(review["explanation"])  # type: ignore[index]
    assert "kr" not in explanation and m.sentence(explanation, "nb") != explanation
    norwegian = m.sentence(said, "nb")
    assert norwegian != said and "99 999,00 kr" in norwegian and "12 345,60 kr" in norwegian
    assert (await h.view(pid)).status.value == "PROPOSED"


async def test_a_second_credit_note_beyond_what_is_left_of_the_invoice_is_held() -> None:
    h = Harness()
    await h.propose(invoice(invoice_number="10012", amount=D("1000.00")))
    first = await h.propose(credit(amount=D("600.00"), invoice_number="K-1", **SAME_SUPPLIER))
    assert (await _first_metadata(h, first))["review"]["rule"] == "credit-note"  # type: ignore[index]
    second = await h.propose(credit(amount=D("600.00"), invoice_number="K-2", **SAME_SUPPLIER))
    metadata = await _first_metadata(h, second)
    assert metadata["review"]["rule"] == "credit-beyond-invoice"  # type: ignore[index]
    [said] = metadata["warnings"]  # type: ignore[misc]
    assert "1 200,00 kr" in said and "1 000,00 kr" in said


async def test_a_rejected_credit_note_credits_nothing_of_its_invoice() -> None:
    h = Harness()
    await h.propose(invoice(invoice_number="10012", amount=D("1000.00")))
    wrong = await h.propose(credit(amount=D("1000.00"), invoice_number="K-1", **SAME_SUPPLIER))
    await h.reject(wrong)
    again = await h.propose(credit(amount=D("1000.00"), invoice_number="K-2", **SAME_SUPPLIER))
    assert (await _first_metadata(h, again))["review"]["rule"] == "credit-note"  # type: ignore[index]


def test_a_credit_beyond_its_invoice_is_never_approved_automatically() -> None:
    beyond = credit_beyond_invoice(D("700"), D("400"), D("1000"))
    assert beyond is not None and beyond.credited == D("1100")
    assert credit_beyond_invoice(D("600"), D("400"), D("1000")) is None
    rules = msgspec.structs.replace(
        DEFAULT_RULES,
        auto_approvable_kinds=frozenset({Kind.INVOICE_REGISTRATION}),
        auto_approve_requires_pattern=False,
    )
    decision = decide(
        rules,
        kind=Kind.INVOICE_REGISTRATION,
        score=D("0.99"),
        approved_pattern=True,
        duplicate_suspected=False,
        amount=D("700"),
        credit_note=True,
        credit_beyond_invoice=beyond,
    )
    assert decision.outcome is Outcome.AWAITING_REVIEW
    assert decision.rule == "credit-beyond-invoice"


async def test_a_corrected_credit_note_is_cancelled_and_posted_again() -> None:
    h = Harness()
    target = await h.approved(credit())
    await h.executor.run_once()
    pid = await h.approved(correction(target, account_code="6860"))
    assert (await h.executor.run_once()).executed == 1
    books = h.world.books(TENANT)
    # The corrected credit note is posted before the original is cancelled: one the
    # books refuse leaves the original standing (test_execution_crash_matrix).
    original, again, counter = books.journal_entries.values()
    assert [e.reference for e in (original, again, counter)] == [
        reference(target),
        reference(pid),
        f"{reference(pid)}-r",
    ]
    assert [(ln.credit_account, ln.credit_vat_code) for ln in again.lines[1:]] == [("6860", 1)]
    assert set((await h.view(pid)).external_ids) >= {
        "reversedFikenJournalEntryId",
        "fikenJournalEntryId",
    }
    async with h.uow_factory() as uow:
        totals = {t.account: t.balance for t in await uow.ledger.trial_balance(TENANT, None, None)}
    assert totals["6540"] == 0 and totals["6860"] == D("-1000.00")
    assert totals["2710"] == D("-250.00")
    assert h.world.duplicates() == []


async def test_the_discord_review_request_says_a_credit_beyond_its_invoice_once() -> None:
    """The review channel showed only the confidence's negative reasons: nothing said the
    credit note credits more than its invoice. Its warning is a concern, said once, in
    Norwegian."""
    h = Harness()
    await h.propose(invoice(invoice_number="10012", amount=D("12345.60")))
    pid = await h.propose(credit(amount=D("99999.00"), **SAME_SUPPLIER))
    proposed = (await h.stream(pid))[0]
    text = review_text(await h.view(pid), concerns(proposed))
    said = "kreditnotaene på fakturaen blir 99 999,00 kr med denne, mer enn fakturaens 12 345,60 kr"
    assert text.count(said) == 1, text
