"""Issue 13: an invoice asking to be paid to another account than its supplier's known one
(from the supplier's earlier approved or executed invoices) is a reason and stays in review."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from bookkeeper.adapters.memory import MemoryUnitOfWorkFactory
from bookkeeper.application.commands import SubmitEvent
from bookkeeper.application.messages import sentence
from bookkeeper.domain.confidence import (
    ScoringContext,
    payment_account_changed,
    payment_account_key,
    score,
)
from bookkeeper.domain.events import InvoiceRegistrationData, Kind
from bookkeeper.domain.review import DEFAULT_RULES, Outcome, decide
from tests.unit.external_doubles import PDF, Harness, agent, invoice

ACCOUNT_A = "8601.11.17947"
IBAN_A = "NO93 8601 1117 947"
ACCOUNT_B = "1503.12.34567"


def test_one_account_in_its_spellings_is_the_same_account() -> None:
    assert payment_account_key(ACCOUNT_A) == payment_account_key(IBAN_A) == "86011117947"
    assert not payment_account_changed(ACCOUNT_A, IBAN_A)
    assert payment_account_changed(ACCOUNT_A, ACCOUNT_B)
    assert payment_account_changed("DE89 3704 0044 0532 0130 00", "DE89370400440532013001")
    assert not payment_account_changed(None, ACCOUNT_B)  # nothing known: no change
    assert not payment_account_changed(ACCOUNT_A, None)  # nothing read: no change


@given(st.text(alphabet="0123456789", min_size=11, max_size=11), st.sampled_from(" .-"))
def test_separators_never_make_a_change(digits: str, sep: str) -> None:
    spaced = sep.join((digits[:4], digits[4:6], digits[6:]))
    assert not payment_account_changed(digits, spaced)


def test_a_changed_account_is_a_named_negative_reason_with_both_accounts() -> None:
    known = ScoringContext(known_payment_account=IBAN_A.replace(" ", ""))
    same = score(invoice(payment_account=ACCOUNT_A), known, DEFAULT_RULES)
    changed = score(invoice(payment_account=ACCOUNT_B), known, DEFAULT_RULES)
    assert [r for r in same.reasons if r.signal == "payment-account"] == []
    [reason] = [r for r in changed.reasons if r.signal == "payment-account"]
    assert reason.effect < 0
    assert "NO9386011117947" in reason.detail and ACCOUNT_B in reason.detail
    assert changed.score < same.score
    norwegian = sentence(reason.detail, "nb")
    assert "kontonummer" in norwegian and "NO9386011117947" in norwegian
    assert ACCOUNT_B in norwegian


def test_the_review_rule_keeps_even_an_auto_approvable_kind_in_review() -> None:
    decision = decide(
        DEFAULT_RULES,
        kind=Kind.RECEIPT_ATTACHMENT,
        score=Decimal("0.95"),
        approved_pattern=True,
        duplicate_suspected=False,
        amount=Decimal("100"),
        payment_account_changed=True,
    )
    assert decision.outcome is Outcome.AWAITING_REVIEW
    assert decision.rule == "payment-account-changed"


async def _submit(h: Harness, **changes: object) -> tuple[str, list[str]]:
    result = await h.handlers.submit(
        SubmitEvent(
            type="InvoiceRegistrationProposed", data=invoice(**changes), principal=agent("acme")
        )
    )
    assert result.decision is not None and result.confidence is not None
    assert result.decision.outcome is Outcome.AWAITING_REVIEW
    details = [r.detail for r in result.confidence.reasons if r.signal == "payment-account"]
    return result.decision.rule, details


async def test_memory_second_invoice_to_another_account_waits_with_the_reason() -> None:
    h = Harness(uow_factory=MemoryUnitOfWorkFactory())
    # Only approved or executed invoices count: a pending one with account B is not known.
    await h.propose(invoice(invoice_number="P-0", payment_account=ACCOUNT_B))
    await h.approved(invoice(invoice_number="F-1", payment_account=ACCOUNT_A))
    rule, details = await _submit(h, invoice_number="F-2", payment_account=ACCOUNT_B)
    assert rule == "payment-account-changed"
    assert len(details) == 1 and ACCOUNT_A in details[0] and ACCOUNT_B in details[0]
    rule, details = await _submit(h, invoice_number="F-3", payment_account=IBAN_A)
    assert rule == "always-review-invoice_registration" and details == []


async def test_memory_other_supplier_or_tenant_or_org_number_is_not_compared() -> None:
    h = Harness(uow_factory=MemoryUnitOfWorkFactory())
    await h.approved(invoice(invoice_number="F-1", payment_account=ACCOUNT_A))
    # Another supplier: another name and organisation number (the same number under a new
    # name is the same supplier: test_known_payment_account_sql, migration 0020).
    _, details = await _submit(
        h,
        supplier="Ice Communication AS",
        supplier_org_number="914594685",
        invoice_number="I-1",
        payment_account=ACCOUNT_B,
    )
    assert details == []
    # The same name, another organisation number: another company.
    _, details = await _submit(
        h, supplier_org_number="923609016", invoice_number="X-1", payment_account=ACCOUNT_B
    )
    assert details == []
    # Another tenant knows nothing of acme's supplier.
    result = await h.handlers.submit(
        SubmitEvent(
            type="InvoiceRegistrationProposed",
            data=invoice(invoice_number="G-1", payment_account=ACCOUNT_B),
            principal=agent("globex"),
        )
    )
    assert result.decision is not None and result.decision.rule != "payment-account-changed"


async def test_memory_a_rejected_invoice_does_not_make_an_account_known() -> None:
    h = Harness(uow_factory=MemoryUnitOfWorkFactory())
    rejected = await h.propose(invoice(invoice_number="F-1", payment_account=ACCOUNT_A))
    await h.reject(rejected)
    _, details = await _submit(h, invoice_number="F-2", payment_account=ACCOUNT_B)
    assert details == []


async def test_pipeline_keeps_the_read_account_and_compares_it_with_the_known_one() -> None:
    from tests.unit.test_pipeline import Setup, telenor_invoice

    setup = Setup(telenor_invoice(bank_account="86011117947", document_number="F-1"))
    first = await setup.pipeline.process(agent(), PDF, None, "f1.pdf")
    [event] = await setup.harness.stream(first.proposal.id)
    assert isinstance(event.data, InvoiceRegistrationData)
    assert event.data.payment_account == "86011117947"
    await setup.harness.approve(first.proposal.id)

    # A foreign IBAN only, on the next invoice of the same supplier: another account.
    setup.extractor.extraction = telenor_invoice(
        iban="DE89370400440532013000", document_number="F-2"
    )
    second = await setup.pipeline.process(agent(), PDF + b"2", None, "f2.pdf")
    assert second.proposal.decision is not None and second.proposal.confidence is not None
    assert second.proposal.decision.rule == "payment-account-changed"
    [reason] = [r for r in second.proposal.confidence.reasons if r.signal == "payment-account"]
    assert "86011117947" in reason.detail and "DE89370400440532013000" in reason.detail

    # The known account as an IBAN: the same account, no reason.
    setup.extractor.extraction = telenor_invoice(
        iban="NO9386011117947", bank_account="86011117947", document_number="F-3"
    )
    third = await setup.pipeline.process(agent(), PDF + b"3", None, "f3.pdf")
    assert third.proposal.decision is not None and third.proposal.confidence is not None
    assert third.proposal.decision.rule == "always-review-invoice_registration"
    assert all(r.signal != "payment-account" for r in third.proposal.confidence.reasons)
