"""Step 2, the act: what an approved proposal does remotely, by kind.

A receipt is attached in the bank, an invoice or expense registered in the books; a
reversal takes back what its target did, and a correction takes it back and does the
corrected version (a receipt moves only when its bank event changed). Every remote call
passes the attempt's guard, and a booking that cannot be posted fails before any of them.
"""

from __future__ import annotations

import uuid

from bookkeeper.application import messages as m
from bookkeeper.application.execution.attempt import Acted, Attempt
from bookkeeper.application.execution.bank_actions import BankActions
from bookkeeper.application.execution.books_actions import BooksActions
from bookkeeper.application.execution.claims import Claim, rehydrate
from bookkeeper.application.execution.policy import ExecutionPolicy, ExecutionRefused
from bookkeeper.application.ports import (
    BankProvider,
    BooksProvider,
    Exclusive,
    UnitOfWorkFactory,
)
from bookkeeper.application.postings import (
    booked_in_nok,
    booking,
    proposal_exchange,
    reversible_entry,
    tax_table,
)
from bookkeeper.domain.events import (
    CorrectionData,
    ExpenseRegistrationData,
    InvoiceRegistrationData,
    PatternSuggestionData,
    ProposalData,
    ReceiptAttachmentData,
    ReversalData,
    Status,
)
from bookkeeper.domain.proposals import Proposal, apply_corrections
from bookkeeper.domain.rules import TaxTable, foreign_currency
from bookkeeper.domain.vat_registration import (
    NOT_VAT_REGISTERED,
    NotVatRegistered,
    carries_vat,
    is_purchase,
)


class Actions:
    """Carries out one claimed attempt in the books and the bank."""

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        books: BooksProvider,
        bank: BankProvider,
        policy: ExecutionPolicy,
        exclusive: Exclusive,
    ) -> None:
        self._uow = uow_factory
        self._policy = policy
        self._books = BooksActions(books, uow_factory, policy, exclusive)
        self._bank = BankActions(bank, uow_factory)

    async def act(self, attempt: Attempt) -> Acted:
        """What the remote side did for the attempt (LeaseLost, ExternalError,
        ExecutionRefused or a DomainError when it could not)."""
        claim = attempt.claim
        data = claim.data
        # A purchase booking VAT for a company that left the VAT register after the
        # approval: refused for good, before any remote call (ADR 0056 addendum 6).
        await self._check_registration(claim, data)
        # A booking we cannot post: fail first.
        await self._check_posting(
            claim.tenant_id, claim.proposal_id, data, claim.rates, converted_by=claim.proposal_id
        )
        match data:
            case ReceiptAttachmentData():
                acted = await self._bank.attach_receipt(attempt, claim.proposal_id, data)
            case InvoiceRegistrationData() | ExpenseRegistrationData():
                acted = await self._books.register_purchase(attempt, claim.proposal_id, data)
            case ReversalData():
                if await self._entry_target(claim.tenant_id, data.target_proposal_id):
                    # A journal entry reversed directly (ADR 0040 §4): nothing outside the
                    # ledger to take back; the recording posts the mirror entry.
                    acted = Acted(external_ids={})
                else:
                    target_id, target = await self._target(claim.tenant_id, data.target_proposal_id)
                    acted = await self._undo(attempt, target_id, target, data.reason)
            case CorrectionData():
                acted = await self._correct(attempt, data)
            case PatternSuggestionData():  # pragma: no cover - never claimed
                raise ExecutionRefused(m.text("refusal.pattern_on_approval", m.ENGLISH))
        acted.reconciled = acted.reconciled or attempt.reconciled
        return acted

    async def _undo(
        self, attempt: Attempt, target_id: uuid.UUID, target: Proposal, reason: str
    ) -> Acted:
        """Take back the remote effect of an executed proposal."""
        external = target.external_ids
        if "fikenJournalEntryId" in external:  # a supplier's credit note (ADR 0054)
            return await self._books.take_back_credit_note(attempt, target_id, target, reason)
        if "fikenPurchaseId" in external:
            return await self._books.take_back(attempt, target_id, target, reason)
        if "folioEventId" in external:
            return await self._bank.take_back(attempt, target_id, external)
        return Acted(external_ids={})

    async def _correct(self, attempt: Attempt, data: CorrectionData) -> Acted:
        claim = attempt.claim
        target_id, target = await self._target(claim.tenant_id, data.target_proposal_id)
        corrected = apply_corrections(target.effective_data, data.changes)
        await self._check_registration(claim, corrected)
        await self._check_posting(
            claim.tenant_id, claim.proposal_id, corrected, claim.rates, converted_by=target_id
        )
        match corrected:
            case ReceiptAttachmentData():
                old_event = target.external_ids.get("folioEventId")
                if corrected.folio_event_id and corrected.folio_event_id != old_event:
                    undone = await self._undo(attempt, target_id, target, data.reason)
                    moved = await self._bank.attach_receipt(attempt, claim.proposal_id, corrected)
                    ids = dict(moved.external_ids)
                    if old_event:
                        ids["previousFolioEventId"] = old_event
                    return Acted(external_ids=ids, alerts=undone.alerts)
                # Only the booking changes (account, VAT …): the file stays where it is.
                return Acted(external_ids=dict(target.external_ids))
            case InvoiceRegistrationData() | ExpenseRegistrationData():
                undone = await self._undo(attempt, target_id, target, data.reason)
                registered = await self._books.register_purchase(
                    attempt, claim.proposal_id, corrected
                )
                return Acted(external_ids={**undone.external_ids, **registered.external_ids})
        refused = m.text("refusal.not_correctable", m.ENGLISH, kind=target.kind)  # pragma: no cover
        raise ExecutionRefused(refused)  # pragma: no cover

    async def _check_registration(self, claim: Claim, data: ProposalData) -> None:
        """NotVatRegistered (a DomainError: FAILED for good, with an alert) when `data` is a
        purchase that books VAT — input VAT deducted, reverse charge — and the tenant is
        not VAT-registered now: approved while it was, it may not deduct what it no longer
        has the right to (merverdiavgiftsloven § 8-1). A purchase approved at 0 % executes
        whatever the registration: booking the gross amount as the cost is never wrong."""
        if not is_purchase(data) or not carries_vat(data):
            return
        registered = claim.vat_registered
        if registered is None:
            async with self._uow() as uow:
                registered = (await uow.settings.review_rules(claim.tenant_id)).vat_registered
        if not registered:
            raise NotVatRegistered(NOT_VAT_REGISTERED)

    async def _check_posting(
        self,
        tenant_id: str,
        proposal_id: uuid.UUID,
        data: ProposalData,
        rates: TaxTable | None = None,
        *,
        converted_by: uuid.UUID | None = None,
    ) -> None:
        """Raise the DomainError (UnbalancedEntry …) recording would raise, before any
        remote call, so that an action whose posting is impossible fails untouched
        (`rates`: the tenant's tax rates as the claim read them; None: read them now). A
        foreign-currency purchase is checked in NOK by the conversion recorded with the
        proposal `converted_by` (NokAmountMissing without one, ADR 0051)."""
        if converted_by is not None and foreign_currency(data) is not None:
            async with self._uow() as uow:
                exchange = await proposal_exchange(uow, tenant_id, converted_by)
            data = booked_in_nok(data, exchange)
        booking(
            data,
            proposal_id,
            payment_account=self._policy.ledger_payment_account,
            payables_account=self._policy.payables_account,
            rates=rates if rates is not None else await tax_table(self._uow, tenant_id),
        )

    async def _entry_target(self, tenant: str, target_ref: str) -> bool:
        """Whether a reversal's target is a journal entry (not a proposal)."""
        try:
            target_id = uuid.UUID(target_ref)
        except ValueError:
            return False
        async with self._uow() as uow:
            return await reversible_entry(uow, tenant, target_id) is not None

    async def _target(self, tenant: str, target_ref: str) -> tuple[uuid.UUID, Proposal]:
        try:
            target_id = uuid.UUID(target_ref)
        except ValueError:
            raise ExecutionRefused(
                m.text("refusal.target_not_an_id", m.ENGLISH, target=repr(target_ref))
            ) from None
        async with self._uow() as uow:
            events = await uow.events.read_stream(tenant, target_id)
        target = rehydrate(target_id, events)
        if target is None or target.status is not Status.EXECUTED:
            raise ExecutionRefused(m.text("refusal.target_not_executed", m.ENGLISH, id=target_id))
        return target_id, target
