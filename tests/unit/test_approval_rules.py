"""ABAC in the handlers (domain.approval): approval limits, four eyes on proposals and
documents, two approvers above a threshold, department scoping, and the rule on every
decision — as pure rules, through the aggregate, and through the handlers."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Coroutine
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bookkeeper.adapters.memory import MemoryUnitOfWorkFactory
from bookkeeper.adapters.system import UuidV7Ids
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.commands import ApproveProposal, RejectProposal, SubmitEvent
from bookkeeper.application.documents import Documents
from bookkeeper.application.errors import ApplicationError, ConcurrencyConflict
from bookkeeper.application.handlers import Handlers
from bookkeeper.application.ports import EventFilter, Principal, ProposalView
from bookkeeper.application.projections import fold_proposal
from bookkeeper.application.replay import rebuild_projections
from bookkeeper.domain.approval import (
    ApprovalFacts,
    ApprovalLimitExceeded,
    ApprovalRefused,
    Decider,
    DepartmentMismatch,
    OwnDocumentApprovalNotAllowed,
    SecondApproverRequired,
    authorise_approval,
    authorise_rejection,
    clean_department,
    parse_limit,
    required_approvals,
)
from bookkeeper.domain.errors import (
    DomainError,
    InvalidCorrection,
    NokAmountMissing,
    SelfApprovalNotAllowed,
)
from bookkeeper.domain.events import (
    Corrections,
    EndorsedData,
    InvoiceRegistrationData,
    Kind,
    ReceiptAttachmentData,
    ReversalData,
    Status,
    event_type,
)
from bookkeeper.domain.proposals import Proposal
from bookkeeper.domain.review import DEFAULT_RULES, Outcome, ReviewRules, decide
from tests.unit.conftest import FixedClock

TENANT = "acme"
PDF = b"%PDF-1.7\n% a receipt\n"


def who(
    subject: str,
    *roles: str,
    limit: str | None = None,
    department: str | None = None,
) -> Principal:
    attributes = {}
    if limit is not None:
        attributes["approval_limit"] = limit
    if department is not None:
        attributes["department"] = department
    return Principal(
        subject=subject,
        tenant_id=TENANT,
        roles=frozenset(roles or {"reviewer"}),
        attributes=attributes,
    )


def decider(actor: str = "human:kari", **fields: Any) -> Decider:
    return Decider(actor=actor, **fields)


def facts(**fields: Any) -> ApprovalFacts:
    fields.setdefault("proposed_by", "book-e")
    fields.setdefault("amount", Decimal("1000.00"))
    return ApprovalFacts(**fields)


# --- the rules, pure ---------------------------------------------------------------------


def test_stored_rules_without_the_new_fields_stay_valid() -> None:
    old = {"autoApproveAbove": "0.95", "amountMax": "20000", "duplicateWindowDays": 5}
    rules = msgspec.convert(old, ReviewRules)  # as the SQL adapter reads them
    assert rules.two_approvers_above == Decimal("50000")
    assert rules.default_approval_limit is None
    assert rules.require_approval_limit is False
    assert rules.departments is False
    assert msgspec.convert(msgspec.to_builtins(rules), ReviewRules, strict=False) == rules


@pytest.mark.parametrize(
    ("limit", "amount", "allowed"),
    [
        ("5000.00", "4999.99", True),
        ("5000.00", "5000.00", True),
        ("5000", "5000.01", False),
        ("0", "0.01", False),
    ],
)
def test_the_approval_limit_is_inclusive(limit: str, amount: str, allowed: bool) -> None:
    f = facts(amount=Decimal(amount))
    if allowed:
        grant = authorise_approval(DEFAULT_RULES, f, decider(approval_limit=limit))
        assert f"approval-limit:{Decimal(limit):.2f}" in grant.rule.split(";")
    else:
        with pytest.raises(ApprovalLimitExceeded) as refused:
            authorise_approval(DEFAULT_RULES, f, decider(approval_limit=limit))
        assert refused.value.code == "approval-limit-exceeded"


@pytest.mark.parametrize("raw", ["abc", "-1", "NaN", "Infinity", "", "1e", " "])
def test_a_malformed_limit_grants_nothing(raw: str) -> None:
    with pytest.raises(ApprovalLimitExceeded):
        parse_limit(raw)
    with pytest.raises(ApprovalLimitExceeded):
        authorise_approval(DEFAULT_RULES, facts(amount=Decimal("1")), decider(approval_limit=raw))


def test_without_a_limit_attribute_the_tenant_decides() -> None:
    f = facts(amount=Decimal("7000.00"))
    unlimited = authorise_approval(DEFAULT_RULES, f, decider())
    assert "approval-limit:unlimited" in unlimited.rule
    by_default = ReviewRules(default_approval_limit=Decimal("8000"))
    assert "approval-limit:default:8000.00" in authorise_approval(by_default, f, decider()).rule
    with pytest.raises(ApprovalLimitExceeded):
        authorise_approval(ReviewRules(default_approval_limit=Decimal("6999.99")), f, decider())
    with pytest.raises(ApprovalLimitExceeded):
        authorise_approval(ReviewRules(require_approval_limit=True), f, decider())
    # The token's own limit wins over the tenant's default, either way.
    own = decider(approval_limit="100")
    with pytest.raises(ApprovalLimitExceeded):
        authorise_approval(by_default, f, own)


def test_a_proposal_without_an_amount_has_no_limit_to_check() -> None:
    grant = authorise_approval(
        ReviewRules(require_approval_limit=True), facts(amount=None), decider()
    )
    assert grant == type(grant)(rule="four-eyes", approvals_required=1)


def test_nobody_approves_their_own_proposal_or_document() -> None:
    with pytest.raises(SelfApprovalNotAllowed) as own:
        authorise_approval(DEFAULT_RULES, facts(proposed_by="human:kari"), decider())
    assert own.value.code == "self-approval"
    with pytest.raises(OwnDocumentApprovalNotAllowed) as document:
        authorise_approval(DEFAULT_RULES, facts(uploaded_by="human:kari"), decider())
    assert isinstance(document.value, SelfApprovalNotAllowed)  # 403, like self-approval
    assert document.value.code == "own-document-approval"
    other = authorise_approval(DEFAULT_RULES, facts(uploaded_by="human:ola"), decider())
    assert other.rule.startswith("four-eyes")


def test_two_approvers_above_the_threshold() -> None:
    rules = ReviewRules(two_approvers_above=Decimal("10000"))
    assert required_approvals(rules, Decimal("10000")) == 1
    assert required_approvals(rules, Decimal("10000.01")) == 2
    assert required_approvals(rules, None) == 1
    assert required_approvals(ReviewRules(two_approvers_above=None), Decimal("1e11")) == 1
    big = facts(amount=Decimal("20000"))
    first = authorise_approval(rules, big, decider())
    assert first.approvals_required == 2
    assert first.rule.endswith("two-approvers:1/2")
    endorsed = msgspec.structs.replace(big, endorsed_by=("human:kari",))
    second = authorise_approval(rules, endorsed, decider("human:ola"))
    assert second.rule.endswith("two-approvers:2/2")
    with pytest.raises(SecondApproverRequired):
        authorise_approval(rules, endorsed, decider())


def test_department_scoping() -> None:
    rules = ReviewRules(departments=True)
    sales = facts(department="Sales")
    assert "department:sales" in authorise_approval(rules, sales, decider(department="sales")).rule
    with pytest.raises(DepartmentMismatch) as refused:
        authorise_approval(rules, sales, decider(department="it"))
    assert isinstance(refused.value, ApprovalRefused)
    assert refused.value.code == "department-mismatch"
    with pytest.raises(DepartmentMismatch):  # a departmental reviewer, an agent's proposal
        authorise_approval(rules, facts(), decider(department="sales"))
    assert (
        "department:admin"
        in authorise_approval(rules, sales, decider(department="it", admin=True)).rule
    )
    assert "department:tenant-wide" in authorise_approval(rules, sales, decider()).rule
    # Off: no department rule at all.
    assert (
        "department" not in authorise_approval(DEFAULT_RULES, sales, decider(department="it")).rule
    )


def test_rejection_is_scoped_by_department_only() -> None:
    rules = ReviewRules(departments=True, require_approval_limit=True)
    sales = facts(department="sales", amount=Decimal("1e9"))
    assert authorise_rejection(DEFAULT_RULES, sales, decider(department="it")) is None
    assert authorise_rejection(rules, sales, decider(department="sales")) == "department:sales"
    with pytest.raises(DepartmentMismatch):
        authorise_rejection(rules, sales, decider(department="it"))
    proposer = facts(department="sales", proposed_by="human:kari")
    assert authorise_rejection(rules, proposer, decider(department="it")) == ("department:proposer")


@pytest.mark.parametrize(
    ("raw", "kept"),
    [(None, None), ("", None), ("  sales ", "sales"), ("a\x00b", None), ("x" * 101, None)],
)
def test_department_values_are_cleaned(raw: str | None, kept: str | None) -> None:
    assert clean_department(raw) == kept


def test_auto_approval_never_applies_above_the_two_approver_threshold() -> None:
    rules = ReviewRules(max_auto_amount=Decimal("1e9"), two_approvers_above=Decimal("1000"))
    common: dict[str, Any] = {
        "kind": Kind.RECEIPT_ATTACHMENT,
        "score": Decimal("0.99"),
        "approved_pattern": True,
        "duplicate_suspected": False,
    }
    assert decide(rules, amount=Decimal("1000"), **common).outcome is Outcome.AUTO_APPROVED
    above = decide(rules, amount=Decimal("1000.01"), **common)
    assert (above.outcome, above.rule) == (Outcome.AWAITING_REVIEW, "two-approvers-required")


# --- the aggregate -----------------------------------------------------------------------


def _invoice(amount: str = "60000.00") -> InvoiceRegistrationData:
    return InvoiceRegistrationData(
        supplier="Telenor Norge AS",
        amount=Decimal(amount),
        date=dt.date(2026, 11, 1),
        due_date=dt.date(2026, 11, 15),
        vat_rate=Decimal("25"),
        account_code="6900",
    )


class _Stored(msgspec.Struct, frozen=True):
    type: str
    data: Any
    actor: str
    version: int


def _replayed(proposal: Proposal, history: list[_Stored]) -> Proposal:
    for pending in proposal.pending:
        history.append(_Stored(pending.type, pending.data, pending.actor, len(history) + 1))
    proposal.pending.clear()
    return Proposal.rehydrate(proposal.id, history)


def test_the_aggregate_endorses_then_approves() -> None:
    history: list[_Stored] = []
    proposal = Proposal.propose("p1", _invoice(), actor="book-e")
    fix = Corrections(account_code="6810")
    proposal.approve(actor="human:kari", corrections=fix, rule="r1", approvals_required=2)
    endorsed = proposal.pending[-1]
    assert endorsed.type == "InvoiceRegistrationEndorsed"
    assert endorsed.status is None
    assert event_type(endorsed.type).status is None
    assert isinstance(endorsed.data, EndorsedData)
    proposal = _replayed(proposal, history)
    assert (proposal.status, proposal.endorsed_by) == (Status.PROPOSED, ("human:kari",))
    assert proposal.effective_data.account_code == "6810"  # type: ignore[union-attr]
    with pytest.raises(SecondApproverRequired):
        proposal.approve(actor="human:kari", approvals_required=2)
    with pytest.raises(InvalidCorrection):  # the second approver approves what was endorsed
        proposal.approve(
            actor="human:ola", corrections=Corrections(amount=Decimal("1")), approvals_required=2
        )
    proposal.approve(actor="human:ola", rule="r2", approvals_required=2)
    proposal = _replayed(proposal, history)
    assert proposal.status is Status.APPROVED
    assert (proposal.decided_by, proposal.decision_rule) == ("human:ola", "r2")
    assert proposal.effective_data.account_code == "6810"  # type: ignore[union-attr]


def test_an_endorsed_proposal_can_still_be_rejected() -> None:
    proposal = Proposal.propose("p1", _invoice(), actor="book-e")
    proposal.approve(actor="human:kari", approvals_required=2)
    proposal.reject(actor="human:kari", reason="changed my mind", rule="department:sales")
    assert proposal.status is Status.REJECTED
    assert proposal.decision_rule == "department:sales"


# --- through the handlers ----------------------------------------------------------------


class World:
    """The handlers on in-memory storage, with the tenant's rules set."""

    def __init__(self, rules: ReviewRules = DEFAULT_RULES) -> None:
        self.factory = MemoryUnitOfWorkFactory()
        self.factory.db.rules[TENANT] = rules
        self.clock = FixedClock()
        self.handlers = Handlers(self.factory, self.clock, UuidV7Ids(), RoleAuthorizer())
        self.documents = Documents(self.factory, self.clock, RoleAuthorizer())

    async def propose(self, data: Any, by: Principal | None = None) -> uuid.UUID:
        name = {
            ReceiptAttachmentData: "ReceiptAttachmentProposed",
            InvoiceRegistrationData: "InvoiceRegistrationProposed",
            ReversalData: "ReversalProposed",
        }[type(data)]
        result = await self.handlers.submit(
            SubmitEvent(principal=by or who("book-e", "agent"), type=name, data=data)
        )
        return result.stream_id

    async def approve(
        self, proposal_id: uuid.UUID, by: Principal, corrections: Corrections | None = None
    ) -> ProposalView:
        result = await self.handlers.approve(
            ApproveProposal(principal=by, proposal_id=proposal_id, corrections=corrections)
        )
        return result.proposal

    async def reject(self, proposal_id: uuid.UUID, by: Principal) -> ProposalView:
        result = await self.handlers.reject(
            RejectProposal(principal=by, proposal_id=proposal_id, reason="no")
        )
        return result.proposal

    async def view(self, proposal_id: uuid.UUID) -> ProposalView:
        async with self.factory() as uow:
            view = await uow.proposals.get(TENANT, proposal_id)
        assert view is not None
        return view


def _receipt(amount: str = "199.00", **changes: Any) -> ReceiptAttachmentData:
    fields: dict[str, Any] = {
        "merchant_name": "Ukjent Butikk AS",
        "amount": Decimal(amount),
        "date": dt.date(2026, 11, 20),
        "vat_rate": Decimal("25"),
        "account_code": "6540",
    }
    fields.update(changes)
    return ReceiptAttachmentData(**fields)


async def test_a_human_approval_records_the_rules_that_allowed_it() -> None:
    world = World()
    pid = await world.propose(_receipt("4000.00"))
    view = await world.approve(pid, who("kari", limit="5000.00"))
    assert view.status is Status.APPROVED
    assert view.decision_rule == "four-eyes;approval-limit:5000.00"


async def test_the_limit_applies_to_the_corrected_amount() -> None:
    world = World()
    pid = await world.propose(_receipt("4000.00"))
    kari = who("kari", limit="5000.00")
    with pytest.raises(ApprovalLimitExceeded):
        await world.approve(pid, kari, Corrections(amount=Decimal("5000.01")))
    assert (await world.view(pid)).status is Status.PROPOSED
    corrected = await world.approve(pid, kari, Corrections(amount=Decimal("4500.00")))
    assert corrected.amount == Decimal("4500.00")


async def test_a_reversal_is_limited_by_its_targets_amount() -> None:
    world = World()
    target = await world.propose(_receipt("9000.00"))
    await world.approve(target, who("ola"))
    async with world.factory() as uow:  # executed, as the executor would record it
        events = await uow.events.read_stream(TENANT, target)
        proposal = Proposal.rehydrate(str(target), events)
        proposal.record_executed(actor="system:executor")
        pending = proposal.pending
        recorded = await uow.events.append(
            TENANT,
            target,
            len(events),
            [
                _new_event(pending[0], events[-1].correlation_id, world.clock.now()),
            ],
        )
        view = fold_proposal([*events, *recorded])
        assert view is not None
        await uow.proposals.upsert(view)
        await uow.commit()
    reversal = await world.propose(ReversalData(target_proposal_id=str(target), reason="wrong"))
    with pytest.raises(ApprovalLimitExceeded):
        await world.approve(reversal, who("kari", limit="5000"))
    approved = await world.approve(reversal, who("kari", limit="9000"))
    assert approved.decision_rule == "four-eyes;approval-limit:9000.00"


def _new_event(pending: Any, correlation_id: uuid.UUID, now: dt.datetime) -> Any:
    from bookkeeper.application.ports import NewEvent

    return NewEvent(
        id=uuid.uuid4(),
        type=pending.type,
        schema_version=1,
        status=pending.status,
        actor=pending.actor,
        data=pending.data,
        metadata={},
        parent_id=None,
        correlation_id=correlation_id,
        created_at=now,
    )


async def test_the_uploader_of_the_document_cannot_approve() -> None:
    world = World()
    uploader = who("kari", "accountant")
    upload = await world.documents.upload(uploader, PDF, "application/pdf", "r.pdf")
    assert upload.document.uploaded_by == "human:kari"
    again = await world.documents.upload(who("ola", "accountant"), PDF, None, "r.pdf")
    assert again.duplicate and again.document.uploaded_by == "human:kari"  # the first stays
    pid = await world.propose(_receipt(document_hash=upload.document.sha256))
    with pytest.raises(OwnDocumentApprovalNotAllowed):
        await world.approve(pid, uploader)
    view = await world.approve(pid, who("ola"))
    assert view.status is Status.APPROVED


async def test_two_different_approvers_above_the_threshold() -> None:
    world = World(ReviewRules(two_approvers_above=Decimal("50000")))
    pid = await world.propose(_invoice("60000.00"))
    first = await world.approve(pid, who("kari"), Corrections(account_code="6810"))
    assert (first.status, first.endorsed_by, first.decided_by) == (
        Status.PROPOSED,
        "human:kari",
        None,
    )
    assert first.account_code == "6810"
    with pytest.raises(SecondApproverRequired):
        await world.approve(pid, who("kari"))
    second = await world.approve(pid, who("ola", limit="100000"))
    assert (second.status, second.endorsed_by, second.decided_by) == (
        Status.APPROVED,
        "human:kari",
        "human:ola",
    )
    assert second.decision_rule == "four-eyes;approval-limit:100000.00;two-approvers:2/2"
    async with world.factory() as uow:
        events = await uow.events.read_stream(TENANT, pid)
    assert [e.type for e in events] == [
        "InvoiceRegistrationProposed",
        "InvoiceRegistrationEndorsed",
        "InvoiceRegistrationApproved",
    ]
    assert events[1].data == EndorsedData(
        corrections=Corrections(account_code="6810"),
        rule="four-eyes;approval-limit:unlimited;two-approvers:1/2",
    )


async def test_rejecting_after_an_endorsement_rejects() -> None:
    world = World()
    pid = await world.propose(_invoice("60000.00"))
    await world.approve(pid, who("kari"))
    view = await world.reject(pid, who("ola"))
    assert view.status is Status.REJECTED
    assert view.endorsed_by == "human:kari"


async def test_departments_scope_decisions_and_the_proposal_carries_its_department() -> None:
    world = World(ReviewRules(departments=True))
    pid = await world.propose(_receipt(), who("siri", "accountant", department="sales"))
    async with world.factory() as uow:
        first = (await uow.events.read_stream(TENANT, pid))[0]
    assert first.metadata["department"] == "sales"
    with pytest.raises(DepartmentMismatch):
        await world.approve(pid, who("kari", department="it"))
    with pytest.raises(DepartmentMismatch):
        await world.reject(pid, who("kari", department="it"))
    view = await world.approve(pid, who("ola", department="Sales"))
    assert view.decision_rule == "four-eyes;department:Sales;approval-limit:unlimited"
    other = await world.propose(_receipt(), who("siri", "accountant", department="sales"))
    admin = await world.approve(other, who("ada", "admin", department="it"))
    assert admin.decision_rule is not None and "department:admin" in admin.decision_rule


async def test_a_decision_on_a_decided_proposal_is_a_conflict_not_a_refusal() -> None:
    world = World()
    pid = await world.propose(_receipt("9000.00"))
    await world.approve(pid, who("ola"))
    with pytest.raises(DomainError) as late:
        await world.approve(pid, who("kari", limit="1"))
    assert late.value.code == "proposal-not-pending"


async def test_fifty_concurrent_approvals_by_one_person_give_one_endorsement() -> None:
    world = World()
    pid = await world.propose(_invoice("60000.00"))

    async def attempt(by: Principal) -> Any:
        try:
            return await world.approve(pid, by)
        except (ConcurrencyConflict, SecondApproverRequired) as refused:
            return refused

    kari = who("kari")
    results = await asyncio.gather(*(attempt(kari) for _ in range(50)))
    assert [r.status for r in results if isinstance(r, ProposalView)] == [Status.PROPOSED]
    assert (await world.view(pid)).status is Status.PROPOSED


async def test_fifty_concurrent_approvals_by_different_people_give_one_decision() -> None:
    world = World()
    pid = await world.propose(_invoice("60000.00"))

    async def attempt(n: int) -> Any:
        try:
            return await world.approve(pid, who(f"r{n}"))
        except (ConcurrencyConflict, DomainError) as refused:  # 409 either way
            return refused

    results = await asyncio.gather(*(attempt(n) for n in range(50)))
    accepted = [r for r in results if isinstance(r, ProposalView)]
    assert 1 <= len(accepted) <= 2  # an endorsement, and maybe an approval after its commit
    async with world.factory() as uow:
        events = await uow.events.read_stream(TENANT, pid)
    steps = [event_type(e.type).step.value for e in events]
    assert steps == ["proposed", "endorsed", "approved"][: len(events)]
    assert len(events) == 1 + len(accepted)
    assert len({e.actor for e in events}) == len(events)


# --- the property ------------------------------------------------------------------------

DEPARTMENTS = [None, "sales", "it"]
LIMITS = [None, "100000", None, "0", "500.00", "5000.00", "100000", "bogus"]
PEOPLE = ["anna", "bo", "cia", "dan"]


def _run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


people = st.fixed_dictionaries(
    {
        name: st.tuples(st.sampled_from(LIMITS), st.sampled_from(DEPARTMENTS), st.booleans())
        for name in PEOPLE
    }
)
tenant_rules = st.builds(
    ReviewRules,
    two_approvers_above=st.sampled_from([None, Decimal("1000"), Decimal("50000")]),
    default_approval_limit=st.sampled_from([None, None, Decimal("2000")]),
    require_approval_limit=st.sampled_from([False, False, True]),
    departments=st.booleans(),
)
#: Each step: what, by the next person in a random order or the same one again, and a
#: corrected amount, if any.
decisions = st.lists(
    st.tuples(
        st.sampled_from(["approve"] * 5 + ["reject"]),
        st.sampled_from([False, False, False, True]),
        st.sampled_from([None, None, "300.00", "70000.00"]),
    ),
    max_size=6,
)


def _principal(name: str, profile: tuple[str | None, str | None, bool]) -> Principal:
    limit, department, admin = profile
    return who(name, "admin" if admin else "reviewer", limit=limit, department=department)


def _allowed(
    rules: ReviewRules,
    name: str,
    profile: tuple[str | None, str | None, bool],
    amount: Decimal,
    department: str | None,
) -> bool:
    """What a person may approve, written independently of domain.approval."""
    limit, own_department, admin = profile
    if rules.departments and not admin and own_department not in (None, department):
        return False
    if limit is not None:
        if limit == "bogus":
            return False
        return amount <= Decimal(limit)
    if rules.default_approval_limit is not None:
        return amount <= rules.default_approval_limit
    return not rules.require_approval_limit


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    rules=tenant_rules,
    profiles=people,
    amount=st.sampled_from(["60000.00", "100.00", "1500.00", "6000.00", "60000.00"]),
    proposer=st.sampled_from(["book-e", *PEOPLE]),
    uploader=st.sampled_from([None, None, *PEOPLE]),
    steps=decisions,
    order=st.permutations(PEOPLE),
)
def test_no_sequence_of_decisions_approves_what_a_rule_forbids(
    rules: ReviewRules,
    profiles: dict[str, tuple[str | None, str | None, bool]],
    amount: str,
    proposer: str,
    uploader: str | None,
    steps: list[tuple[str, bool, str | None]],
    order: list[str],
) -> None:
    async def scenario() -> None:
        world = World(rules)
        document = None
        if uploader is not None:
            upload = await world.documents.upload(
                who(uploader, "accountant"), PDF, "application/pdf", "r.pdf"
            )
            document = upload.document.sha256
        by = (
            who("book-e", "agent")
            if proposer == "book-e"
            else who(proposer, "accountant", department=profiles[proposer][1])
        )
        invoice = msgspec.structs.replace(_invoice(amount), document_hash=document)
        pid = await world.propose(invoice, by)
        department = None if proposer == "book-e" else clean_department(profiles[proposer][1])
        approvers: list[str] = []
        turn = -1
        for action, again, corrected in steps:
            turn += 0 if again and turn >= 0 else 1
            name = order[turn % len(order)]
            principal = _principal(name, profiles[name])
            before = await world.view(pid)
            try:
                if action == "reject":
                    await world.reject(pid, principal)
                    continue
                fix = Corrections(amount=Decimal(corrected)) if corrected else None
                view = await world.approve(pid, principal, fix)
            except (DomainError, ApplicationError) as refused:
                event(f"refused: {type(refused).__name__}")
                continue
            at_stake = view.amount
            assert at_stake is not None
            # Every approval or endorsement that went through was allowed to this person …
            assert principal.actor not in (by.actor, f"human:{uploader}")
            assert principal.actor not in approvers
            assert _allowed(rules, name, profiles[name], at_stake, department)
            assert before.status is Status.PROPOSED
            approvers.append(principal.actor)
        final = await world.view(pid)
        event(f"{final.status.value}, {len(approvers)} approver(s)")
        if final.status is Status.APPROVED:
            assert final.amount is not None
            needed = (
                2
                if rules.two_approvers_above is not None
                and final.amount > rules.two_approvers_above
                else 1
            )
            # … and enough different people approved.
            assert len(set(approvers)) == len(approvers) >= needed
            assert final.decision_rule is not None and final.decision_rule.startswith("four-eyes")
        # Replay equals live, endorsements included.
        async with world.factory() as uow:
            live = await uow.proposals.get(TENANT, pid)
            events = await uow.events.read_stream(TENANT, pid)
        assert fold_proposal(events) == live
        await rebuild_projections(world.factory)
        assert await world.view(pid) == live
        async with world.factory() as uow:
            logged = await uow.events.query(TENANT, EventFilter(stream_id=pid, limit=100))
        assert len(logged) == len(events)

    _run(scenario())


# --- a foreign-currency document is weighed in NOK (ADR 0051 addendum) --------------------


def test_a_document_without_a_nok_amount_cannot_be_held_against_a_limit() -> None:
    unconverted = facts(amount=None, unconverted="USD")
    with pytest.raises(NokAmountMissing, match=r"USD.*approval limit.*nokAmount"):
        authorise_approval(DEFAULT_RULES, unconverted, decider(approval_limit="50000"))
    with pytest.raises(NokAmountMissing, match="two approvers"):
        authorise_approval(DEFAULT_RULES, unconverted, decider())
    alone = msgspec.structs.replace(DEFAULT_RULES, two_approvers_above=None)
    assert authorise_approval(alone, unconverted, decider()).rule == (
        "four-eyes;approval-limit:unlimited"
    )


def _usd_receipt(amount: str) -> ReceiptAttachmentData:
    return _receipt(amount, currency="USD", vat_rate=Decimal("0"))


async def test_the_limit_weighs_the_reviewers_nok_amount_not_the_dollars() -> None:
    world = World()
    pid = await world.propose(_usd_receipt("10000.00"))
    kari = who("kari", limit="50000.00")
    # 10 000 USD, paid with 108 000 kr: above Kari's 50 000 kr.
    with pytest.raises(ApprovalLimitExceeded, match="108 000,00"):
        await world.approve(pid, kari, Corrections(nok_amount=Decimal("108000.00")))
    assert (await world.view(pid)).status is Status.PROPOSED
    small = await world.propose(_usd_receipt("4000.00"))
    approved = await world.approve(small, kari, Corrections(nok_amount=Decimal("43200.00")))
    assert approved.decision_rule == "four-eyes;approval-limit:50000.00"


async def test_the_limit_weighs_the_recorded_nok_amount() -> None:
    from tests.unit.test_rules_compliance import PublishedRates

    world = World()
    world.handlers = Handlers(
        world.factory,
        world.clock,
        UuidV7Ids(),
        RoleAuthorizer(),
        exchange_rates=PublishedRates({"USD": Decimal("10.8")}),
    )
    pid = await world.propose(_usd_receipt("1000.00"))  # 10 800.00 kr at 10.8
    with pytest.raises(ApprovalLimitExceeded, match="10 800,00"):
        await world.approve(pid, who("kari", limit="5000.00"))
    # A corrected amount: at the same rate (400 USD = 4 320.00 kr) — under kari's limit,
    # but lowering 10 800.00 kr is for an approver whose limit covers it.
    lowered = Corrections(amount=Decimal("400.00"))
    with pytest.raises(ApprovalLimitExceeded, match=r"10 800,00 kr before .* 4 320,00 kr"):
        await world.approve(pid, who("kari", limit="5000.00"), lowered)
    corrected = await world.approve(pid, who("ola", limit="20000.00"), lowered)
    assert corrected.status is Status.APPROVED


async def test_two_approvers_are_counted_in_nok() -> None:
    world = World()
    pid = await world.propose(_usd_receipt("6000.00"))  # 6 000 USD, under 50 000
    first = await world.approve(pid, who("ola"), Corrections(nok_amount=Decimal("64800.00")))
    assert first.status is Status.PROPOSED  # endorsed: 64 800 kr needs two approvers
    second = await world.approve(pid, who("kari"))
    assert second.status is Status.APPROVED
    assert second.decision_rule.endswith("two-approvers:2/2")
