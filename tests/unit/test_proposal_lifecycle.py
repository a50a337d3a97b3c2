"""The proposal lifecycle: legal steps, named errors for illegal ones, corrections merged."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from bookkeeper.application.messages import refusal_form
from bookkeeper.domain.errors import (
    DomainError,
    InvalidCorrection,
    InvalidProposal,
    NotCompensable,
    ProposalNotApproved,
    ProposalNotPending,
    RejectionReasonRequired,
    SelfApprovalNotAllowed,
)
from bookkeeper.domain.events import (
    CorrectionData,
    Corrections,
    InvoiceRegistrationData,
    LineItem,
    ReceiptAttachmentData,
    ReversalData,
    Status,
)
from bookkeeper.domain.proposals import Proposal
from tests.unit.strategies import corrections, proposals

NOW = dt.datetime(2026, 11, 20, 9, tzinfo=dt.UTC)


def receipt(**changes: object) -> ReceiptAttachmentData:
    fields: dict[str, object] = {
        "merchant_name": "Adobe",
        "amount": Decimal("199.00"),
        "date": dt.date(2026, 11, 20),
        "vat_rate": Decimal("25"),
        "account_code": "6540",
        "folio_event_id": "ev-1",
    }
    fields.update(changes)
    return ReceiptAttachmentData(**fields)  # type: ignore[arg-type]


def proposed() -> Proposal:
    return Proposal.propose("p1", receipt(), actor="book-e")


def test_propose_records_one_proposed_event() -> None:
    p = proposed()
    assert p.status is Status.PROPOSED
    assert [e.type for e in p.pending] == ["ReceiptAttachmentProposed"]
    assert p.version == 1


def test_approve_with_corrections_changes_the_effective_data_only() -> None:
    p = proposed()
    p.approve(actor="human:kari", corrections=Corrections(account_code="6810"))
    assert p.status is Status.APPROVED
    assert p.effective_data.account_code == "6810"  # type: ignore[union-attr]
    assert p.data.account_code == "6540"  # type: ignore[union-attr]
    assert p.pending[-1].type == "ReceiptAttachmentApproved"


def test_reject_needs_a_reason() -> None:
    with pytest.raises(RejectionReasonRequired):
        proposed().reject(actor="human:kari", reason="  ")


def test_second_decision_is_refused_by_name() -> None:
    p = proposed()
    p.reject(actor="human:kari", reason="wrong merchant")
    with pytest.raises(ProposalNotPending) as caught:
        p.approve(actor="human:ola")
    assert caught.value.current == "REJECTED"


def test_nobody_approves_their_own_proposal() -> None:
    with pytest.raises(SelfApprovalNotAllowed):
        proposed().approve(actor="book-e")


def test_execution_only_after_approval() -> None:
    p = proposed()
    with pytest.raises(ProposalNotApproved):
        p.start_execution(actor="system:executor")
    with pytest.raises(ProposalNotApproved):
        p.record_executed(actor="system:executor")


def test_retryable_failures_keep_it_approved_until_the_last_attempt() -> None:
    p = proposed()
    p.approve(actor="human:kari")
    for attempt in (1, 2):
        p.start_execution(actor="system:executor")
        p.record_failure(
            actor="system:executor",
            error="503",
            retryable=True,
            next_attempt_at=NOW,
            max_attempts=3,
        )
        assert p.status is Status.APPROVED
        assert p.attempts == attempt
    p.start_execution(actor="system:executor")
    p.record_failure(
        actor="system:executor", error="503", retryable=True, next_attempt_at=NOW, max_attempts=3
    )
    assert p.status is Status.FAILED
    assert p.pending[-1].type == "ReceiptAttachmentFailed"


def test_executed_records_external_ids() -> None:
    p = proposed()
    p.approve(actor="human:kari")
    p.start_execution(actor="system:executor")
    p.record_executed(actor="system:executor", external_ids={"attachmentId": "a1"})
    assert p.status is Status.EXECUTED
    assert p.external_ids == {"attachmentId": "a1"}


def test_only_executed_actions_can_be_compensated() -> None:
    p = proposed()
    with pytest.raises(NotCompensable):
        p.ensure_compensable()
    p.approve(actor="human:kari")
    p.record_executed(actor="system:executor")
    p.ensure_compensable()


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"amount": Decimal("-1")}, InvalidProposal),
        ({"amount": Decimal("1.001")}, InvalidProposal),
        ({"vat_rate": Decimal("24")}, InvalidProposal),
        ({"account_code": "65 40"}, InvalidProposal),
        ({"merchant_name": ""}, InvalidProposal),
        ({"currency": "kr"}, InvalidProposal),
        ({"date": dt.date(1999, 12, 31)}, InvalidProposal),
        ({"vat_amount": Decimal("500")}, InvalidProposal),
        ({"merchant_name": "Adobe\x00"}, InvalidProposal),
        ({"description": "a\x00b"}, InvalidProposal),
    ],
)
def test_invalid_data_is_refused_with_a_named_error(
    changes: dict[str, object], error: type[DomainError]
) -> None:
    with pytest.raises(error):
        Proposal.propose("p", receipt(**changes), actor="book-e")


def test_invoice_lines_must_add_up_and_due_date_follow_the_invoice_date() -> None:
    base = {
        "supplier": "Lev AS",
        "amount": Decimal("100.00"),
        "date": dt.date(2026, 1, 10),
        "vat_rate": Decimal("25"),
        "account_code": "6300",
    }
    with pytest.raises(InvalidProposal, match="before"):
        Proposal.propose(
            "i",
            InvoiceRegistrationData(due_date=dt.date(2026, 1, 1), **base),  # type: ignore[arg-type]
            actor="book-e",
        )
    lines = (LineItem(description="a", amount=Decimal("60.00"), vat_rate=Decimal("25")),)
    with pytest.raises(InvalidProposal, match="add up"):
        Proposal.propose(
            "i",
            InvoiceRegistrationData(  # type: ignore[arg-type]
                due_date=dt.date(2026, 2, 1), line_items=lines, **base
            ),
            actor="book-e",
        )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"kid": "1"}, "kid must be 2 to 25 digits"),
        ({"kid": "1" * 26}, "kid must be 2 to 25 digits"),
        ({"kid": "1234 5678 903"}, "kid must be 2 to 25 digits"),
        ({"kid": "KID12345"}, "kid must be 2 to 25 digits"),
        ({"kid": "１２３４５"}, "kid must be 2 to 25 digits"),  # full-width digits
        ({"supplier_org_number": "9" * 201}, "supplierOrgNumber is longer than 200"),
        ({"supplier_org_number": "923\x07609016"}, "supplierOrgNumber must not contain"),
    ],
)
def test_an_identifier_fiken_would_refuse_is_refused_when_proposed(
    changes: dict[str, object], message: str
) -> None:
    """Fiken takes a KID of 2 to 25 digits and a contact's organisation number of at most
    200 characters; an identifier is never cut, so one beyond that is refused now, not
    answered 400 after the approval."""
    base: dict[str, object] = {
        "supplier": "Lev AS",
        "amount": Decimal("100.00"),
        "date": dt.date(2026, 1, 10),
        "due_date": dt.date(2026, 2, 10),
        "vat_rate": Decimal("25"),
        "account_code": "6300",
    }
    with pytest.raises(InvalidProposal, match=message):
        Proposal.propose(
            "i",
            InvoiceRegistrationData(**{**base, **changes}),  # type: ignore[arg-type]
            actor="book-e",
        )
    fine = {"kid": "1234567890128", "supplier_org_number": "NO 976 967 631 MVA"}
    assert Proposal.propose(
        "i",
        InvoiceRegistrationData(**{**base, **fine}),  # type: ignore[arg-type]
        actor="book-e",
    )


def test_corrections_must_fit_the_kind_and_stay_valid() -> None:
    p = proposed()
    with pytest.raises(InvalidCorrection, match="supplier"):
        p.approve(actor="human:kari", corrections=Corrections(supplier="X"))
    with pytest.raises(InvalidCorrection):
        p.approve(actor="human:kari", corrections=Corrections(vat_rate=Decimal("7")))
    assert p.status is Status.PROPOSED


def test_compensating_proposals_cannot_be_corrected() -> None:
    p = Proposal.propose("r", ReversalData(target_proposal_id="p1", reason="wrong"), actor="x")
    with pytest.raises(InvalidCorrection):
        p.approve(actor="human:kari", corrections=Corrections(account_code="1"))


def test_rehydration_gives_the_same_state() -> None:
    p = proposed()
    p.approve(actor="human:kari", corrections=Corrections(vat_rate=Decimal("15")))
    p.start_execution(actor="system:executor")
    p.record_executed(actor="system:executor", external_ids={"id": "1"})

    class Stored:
        def __init__(self, version: int, type_: str, data: object, actor: str) -> None:
            self.version, self.type, self.data, self.actor = version, type_, data, actor

    copy = Proposal.rehydrate(
        "p1", [Stored(i + 1, e.type, e.data, e.actor) for i, e in enumerate(p.pending)]
    )  # type: ignore[misc]
    assert (copy.status, copy.version, copy.effective_data, copy.external_ids) == (
        p.status,
        p.version,
        p.effective_data,
        p.external_ids,
    )


ALLOWED = {
    None: {Status.PROPOSED},
    Status.PROPOSED: {Status.PROPOSED, Status.APPROVED, Status.REJECTED},
    Status.APPROVED: {Status.APPROVED, Status.EXECUTED, Status.FAILED},
    Status.REJECTED: {Status.REJECTED},
    Status.EXECUTED: {Status.EXECUTED},
    # A person's retry sends a failed execution back to execution (ADR 0009 addendum).
    Status.FAILED: {Status.FAILED, Status.APPROVED},
}


class LifecycleMachine(RuleBasedStateMachine):
    """Random command sequences: a command either succeeds along a legal edge or raises a
    named DomainError and changes nothing."""

    @initialize(data=proposals)
    def start(self, data: object) -> None:
        self.proposal = Proposal.propose("p", data, actor="book-e")  # type: ignore[arg-type]
        self.history = [self.proposal.status]

    def _attempt(self, command: object) -> None:
        before = (self.proposal.status, self.proposal.version, len(self.proposal.pending))
        try:
            command()  # type: ignore[operator]
        except DomainError:
            after = (self.proposal.status, self.proposal.version, len(self.proposal.pending))
            assert after == before, "a refused command changed the proposal"
        self.history.append(self.proposal.status)

    @rule(actor=st.sampled_from(["human:kari", "book-e", "review-e"]), fix=st.none() | corrections)
    def approve(self, actor: str, fix: Corrections | None) -> None:
        self._attempt(lambda: self.proposal.approve(actor=actor, corrections=fix))

    @rule(reason=st.sampled_from(["", "wrong", " "]))
    def reject(self, reason: str) -> None:
        self._attempt(lambda: self.proposal.reject(actor="human:kari", reason=reason))

    @rule()
    def start_execution(self) -> None:
        self._attempt(lambda: self.proposal.start_execution(actor="system:executor"))

    @rule(external=st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2))
    def executed(self, external: dict[str, str]) -> None:
        self._attempt(
            lambda: self.proposal.record_executed(actor="system:executor", external_ids=external)
        )

    @rule(
        retryable=st.booleans(),
        max_attempts=st.integers(1, 4),
        outage=st.booleans(),
        hours=st.integers(0, 30),
    )
    def failed(self, retryable: bool, max_attempts: int, outage: bool, hours: int) -> None:
        self._attempt(
            lambda: self.proposal.record_failure(
                actor="system:executor",
                error="boom",
                retryable=retryable,
                next_attempt_at=NOW,
                max_attempts=max_attempts,
                outage=outage,
                now=NOW + dt.timedelta(hours=hours),
                give_up_after=dt.timedelta(hours=24),
            )
        )

    @rule(actor=st.sampled_from(["human:kari", "book-e"]))
    def retry(self, actor: str) -> None:
        self._attempt(lambda: self.proposal.retry(actor=actor))

    @invariant()
    def only_legal_transitions(self) -> None:
        for previous, current in zip(self.history, self.history[1:], strict=False):
            assert current in ALLOWED[previous], f"{previous} -> {current}"

    @invariant()
    def version_counts_the_events(self) -> None:
        assert self.proposal.version == len(self.proposal.pending)

    @invariant()
    def never_self_approved(self) -> None:
        approvals = [e for e in self.proposal.pending if e.type.endswith("Approved")]
        assert all(e.actor != "book-e" for e in approvals)


TestLifecycle = pytest.mark.long(LifecycleMachine.TestCase)
TestLifecycle.settings = settings(max_examples=150, stateful_step_count=20, deadline=None)


@given(proposals)
def test_any_valid_proposal_can_be_proposed(data: object) -> None:
    assert Proposal.propose("p", data, actor="book-e").status is Status.PROPOSED  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("amount", "stored"),
    [
        (Decimal("199.5"), Decimal("199.50")),
        (Decimal("1e3"), Decimal("1000.00")),
        (Decimal("0.10"), Decimal("0.10")),
    ],
)
def test_amounts_are_stored_in_one_canonical_spelling(amount: Decimal, stored: Decimal) -> None:
    p = Proposal.propose("p", receipt(amount=amount), actor="book-e")
    assert str(p.data.amount) == str(stored)  # type: ignore[union-attr]


def test_rates_are_stored_in_their_shortest_form() -> None:
    p = Proposal.propose("p", receipt(vat_rate=Decimal("25.00")), actor="book-e")
    assert str(p.data.vat_rate) == "25"  # type: ignore[union-attr]
    p.approve(actor="human:kari", corrections=Corrections(vat_rate=Decimal("15.0")))
    assert str(p.effective_data.vat_rate) == "15"  # type: ignore[union-attr]


def test_reasons_and_comments_without_nul() -> None:
    with pytest.raises(RejectionReasonRequired):
        proposed().reject(actor="human:kari", reason="no\x00")
    with pytest.raises(InvalidCorrection):
        proposed().approve(actor="human:kari", comment="ok\x00")


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Feil beløp, faktura F-\u202e0001", "bidi override"),  # shown as "F-1000"
        ("godkjent \u2066av leder\u2069", "bidi override"),
        ("\x1b[2J\x1b[Hgodkjent", "control"),  # clears a reviewer's terminal
        ("ok\x07", "control"),
    ],
)
def test_reasons_and_comments_neither_steer_nor_control_the_text(text: str, kind: str) -> None:
    """A rejection's reason and an approval's comment are free text shown on the page, in
    Discord, the terminal and the audit trail: held to ADR 0049's rule for every name and
    free text of a proposal (a compensating proposal's reason already is); nothing is
    decided."""
    p = proposed()
    with pytest.raises(RejectionReasonRequired, match=kind):
        p.reject(actor="human:kari", reason=text)
    with pytest.raises(InvalidCorrection, match=kind):
        p.approve(actor="human:kari", comment=text)
    assert p.status is Status.PROPOSED and len(p.pending) == 1
    p.approve(actor="human:kari", comment="sjekket\nmot kontoutskrift\t(ok) \u200f")
    assert p.status is Status.APPROVED


def test_a_proposed_correction_keeps_its_changes_in_canonical_form() -> None:
    """A CorrectionProposed's changes are stored as every proposed amount is: two decimals,
    no exponent, no negative zero; the rate in its shortest form."""
    data = CorrectionData(
        target_proposal_id="p-1",
        reason="wrong amount",
        changes=Corrections(
            amount=Decimal("1.5e2"), vat_amount=Decimal("-0"), vat_rate=Decimal("25.000")
        ),
    )
    proposal = Proposal.propose("p-2", data, actor="human:ola")
    assert proposal.data == CorrectionData(
        target_proposal_id="p-1",
        reason="wrong amount",
        changes=Corrections(
            amount=Decimal("150.00"), vat_amount=Decimal("0.00"), vat_rate=Decimal("25")
        ),
    )
    assert isinstance(proposal.data, CorrectionData)
    assert str(proposal.data.changes.amount) == "150.00"
    assert str(proposal.data.changes.vat_amount) == "0.00"


def test_a_corrected_rate_or_amount_does_not_keep_the_document_vat_it_no_longer_fits() -> None:
    # The document's 25 % VAT (246,80 of 1 234,00): a reviewer who corrects the rate to
    # 15 % (the page and Discord offer only the account and the rate) means 15 % VAT, not
    # 246,80 kr booked as 15 % input VAT; the same for a corrected amount.
    stated = {"amount": Decimal("1234.00"), "vat_amount": Decimal("246.80")}
    for correction, vat in (
        (Corrections(vat_rate=Decimal("15")), Decimal("160.96")),
        (Corrections(vat_rate=Decimal("0")), Decimal("0.00")),
        (Corrections(amount=Decimal("500.00")), Decimal("100.00")),
    ):
        p = Proposal.propose("p1", receipt(**stated), actor="book-e")
        p.approve(actor="kari", corrections=correction)
        assert p.corrections is not None and p.corrections.vat_amount == vat
        assert p.effective_data.vat_amount == vat  # type: ignore[union-attr]


def test_a_stated_vat_that_still_fits_the_correction_is_kept_as_printed() -> None:
    # 39,80 kr is 25 % of 199,50 (39,90) within the krone allowed for rounding: it stays.
    p = Proposal.propose(
        "p1", receipt(amount=Decimal("199.00"), vat_amount=Decimal("39.80")), actor="book-e"
    )
    p.approve(actor="kari", corrections=Corrections(amount=Decimal("199.50")))
    assert p.effective_data.vat_amount == Decimal("39.80")  # type: ignore[union-attr]
    p = Proposal.propose(
        "p2", receipt(amount=Decimal("1234.00"), vat_amount=Decimal("246.80")), actor="book-e"
    )
    given = Corrections(vat_rate=Decimal("15"), vat_amount=Decimal("160.00"))
    p.approve(actor="kari", corrections=given)
    assert p.effective_data.vat_amount == Decimal("160.00")  # type: ignore[union-attr]
    # The rate it shows sent again with the account (a review form): the printed VAT stays,
    # even one that does not fit (the proposal's reasons said so to the reviewer).
    p = Proposal.propose(
        "p3", receipt(amount=Decimal("1234.00"), vat_amount=Decimal("100.00")), actor="book-e"
    )
    p.approve(actor="kari", corrections=Corrections(vat_rate=Decimal("25.00"), account_code="1"))
    assert p.effective_data.vat_amount == Decimal("100.00")  # type: ignore[union-attr]


def test_a_rate_correction_that_its_invoice_lines_would_not_follow_is_refused() -> None:
    # Lines at 25 % are booked at 25 %: a corrected rate of 15 % showed 15 % on the
    # proposal while the ledger and Fiken got 25 %. Refused with the lines named; the same
    # rate again, or the account, is corrected as on any invoice.
    lines = (
        LineItem(description="Stol", amount=Decimal("1000.00"), vat_rate=Decimal("25")),
        LineItem(description="Frakt", amount=Decimal("250.00"), vat_rate=Decimal("25")),
    )
    invoice = InvoiceRegistrationData(
        supplier="Lev AS",
        amount=Decimal("1250.00"),
        date=dt.date(2026, 11, 30),
        due_date=dt.date(2026, 12, 14),
        vat_rate=Decimal("25"),
        account_code="6540",
        line_items=lines,
    )
    p = Proposal.propose("i", invoice, actor="book-e")
    with pytest.raises(InvalidCorrection, match="1 000,00 kr at 25 %"):
        p.approve(actor="kari", corrections=Corrections(vat_rate=Decimal("15")))
    assert p.status is Status.PROPOSED
    p.approve(actor="kari", corrections=Corrections(vat_rate=Decimal("25.0"), account_code="6551"))
    assert p.effective_data.account_code == "6551"  # type: ignore[union-attr]
    # A headline rate its lines do not have, sent back as shown with the account: no change.
    shown = msgspec.structs.replace(invoice, vat_rate=Decimal("15"))
    q = Proposal.propose("j", shown, actor="book-e")
    q.approve(actor="kari", corrections=Corrections(vat_rate=Decimal("15"), account_code="6551"))
    assert q.status is Status.APPROVED


def test_a_purchase_is_not_booked_to_the_bank_or_with_vat_to_a_vat_account() -> None:
    # Its entry credits the bank and debits the rate's VAT account by itself: a cost booked
    # to 1920 vanished (bank debited and credited), one booked to 2710 at 25 % claimed its
    # whole gross as input VAT. The VAT settlement paid (2740, no VAT) is a booking of its own.
    for code in ("1920", "1920:10001", "2710", "2740"):
        with pytest.raises(InvalidProposal, match=code):
            Proposal.propose("p", receipt(account_code=code), actor="book-e")
    line = LineItem(
        description="Varer", amount=Decimal("199.00"), vat_rate=Decimal("25"), account_code="2710"
    )
    with pytest.raises(InvalidProposal, match=r"lineItems\[0\]\.accountCode 2710"):
        Proposal.propose(
            "p",
            InvoiceRegistrationData(
                supplier="Lev AS",
                amount=Decimal("199.00"),
                date=dt.date(2026, 11, 30),
                due_date=dt.date(2026, 12, 14),
                vat_rate=Decimal("25"),
                account_code="4300",
                line_items=(line,),
            ),
            actor="book-e",
        )
    settled = Proposal.propose(
        "s", receipt(account_code="2740", vat_rate=Decimal("0")), actor="book-e"
    )
    with pytest.raises(InvalidCorrection, match="VAT account"):
        settled.approve(actor="kari", corrections=Corrections(vat_rate=Decimal("25")))
    p = proposed()
    with pytest.raises(InvalidCorrection, match="bank account"):
        p.approve(actor="kari", corrections=Corrections(account_code="1920"))
    assert p.status is Status.PROPOSED
    # A correction of something else leaves the proposed account as it is.
    p.approve(actor="kari", corrections=Corrections(amount=Decimal("200.00")))
    assert p.status is Status.APPROVED


def test_a_correction_to_the_bank_or_a_vat_account_is_refused_in_words_of_the_catalogue() -> None:
    # The page and Discord say a refusal in Norwegian when the catalogue knows its words.
    for code, key in (("1920", "bank_account"), ("2710", "vat_account")):
        with pytest.raises(InvalidCorrection) as refused:
            proposed().approve(actor="kari", corrections=Corrections(account_code=code))
        assert refusal_form(str(refused.value)) == (
            f"refusal.correction.{key}",
            {"field": "accountCode", "code": code},
        )
