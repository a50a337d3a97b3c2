"""The bank's part of step 2 (Folio): a receipt attached to its bank event, and taken
back as far as the API allows."""

from __future__ import annotations

import uuid
from typing import Final

from bookkeeper.application import messages as m
from bookkeeper.application.bank_claims import BankHold, held_event, read_bank_hold
from bookkeeper.application.errors import ExternalRejected
from bookkeeper.application.execution.attempt import Acted, Attempt
from bookkeeper.application.execution.claims import claim_document
from bookkeeper.application.execution.policy import (
    ExecutionRefused,
    attachment_filename,
    reference,
    safe_error,
)
from bookkeeper.application.ports import BankProvider, UnitOfWorkFactory
from bookkeeper.domain import money
from bookkeeper.domain.deduction import no_deduction
from bookkeeper.domain.events import (
    LineItem,
    ReceiptAttachmentData,
    Status,
    line_items_of,
    line_rates,
)
from bookkeeper.domain.ledger import foreign_service_code, is_reverse_charge

#: What the record of a reversed Folio attachment says: the API has no way to remove it.
FOLIO_KEEPS_ATTACHMENT: Final = (
    "Folio's API cannot remove an attachment: the bank event was marked incomplete and the "
    "file stays attached; remove it in Folio by hand if it must go"
)


class BankEventBusy(ExecutionRefused):
    """The receipt's bank event is approved for a proposal proposed before this one: this
    attempt waits for it (a retryable failure) instead of booking the payment twice."""

    code = "bank-event-busy"
    retryable = True


class BankActions:
    """Receipts on bank events, each remote call under the attempt's guard."""

    def __init__(self, bank: BankProvider, uow_factory: UnitOfWorkFactory) -> None:
        self._bank = bank
        self._uow = uow_factory

    async def attach_receipt(
        self, attempt: Attempt, proposal_id: uuid.UUID, data: ReceiptAttachmentData
    ) -> Acted:
        """Attach the receipt's document to its bank event (once: an attempt after the
        first looks for it by file name and size) and mark the event complete."""
        event_id = data.folio_event_id
        if not event_id:
            raise ExecutionRefused(m.text("refusal.no_folio_event", m.ENGLISH))
        await self._require_event_free(attempt, proposal_id, event_id)
        document, content = await claim_document(
            self._uow, attempt.claim, data.document_hash, required=True
        )
        assert document is not None and content is not None
        bank = self._bank(attempt.claim.tenant_id)
        filename = attachment_filename(proposal_id, document)
        attachment_id: str | None = None
        if attempt.reconcile:
            attachment_id = await attempt.call(
                lambda: bank.find_attachment(event_id, filename, data.date, size=len(content))
            )
            attempt.reconciled = attachment_id is not None
        if attachment_id is None:
            attachment_id = await attempt.call(
                lambda: bank.attach_receipt(event_id, filename, content, document.content_type)
            )
        ids = {"folioEventId": event_id, "folioAttachmentId": attachment_id}
        try:
            if len(line_rates(data)) > 1 or is_reverse_charge(data):
                # Folio has one VAT code per event (its ledger category): the parts per rate
                # go in the event's note, for whoever books it from the bank (ADR 0052), and
                # so does a reverse charge and its code (ADR 0056 addendum).
                note = vat_note(data)
                await attempt.call(lambda: bank.annotate(event_id, note, data.date))
            await attempt.call(lambda: bank.mark_complete(event_id))
        except ExternalRejected as error:
            # The receipt is attached, and Folio's API cannot take it off again: failing
            # the proposal would leave it in the bank unbooked. A failure that may pass
            # (timeout, 5xx, 429) is raised as ever; the next attempt finds the file.
            message = (
                f"The receipt (reference {reference(proposal_id)}) is attached to bank event "
                f"{event_id} and booked, but Folio refused to annotate or complete the event: "
                f"{safe_error(error)}. Complete it in Folio by hand."
            )
            return Acted(external_ids=ids, alerts=[("bank-event-not-complete", "error", message)])
        return Acted(external_ids=ids)

    async def _require_event_free(
        self, attempt: Attempt, proposal_id: uuid.UUID, event_id: str
    ) -> None:
        """One bank payment is booked once (ADR 0051 addendum), checked again before any
        remote call: approvals that raced past the approval check both reach here. An
        event an EXECUTED proposal holds refuses this one for good; one an APPROVED
        proposal proposed before this one holds makes it wait (BankEventBusy, retried):
        the order is fixed, so only the first proposed ever attaches and posts."""
        claim = attempt.claim
        hold = claim.bank_hold
        if hold is None or hold.event_id != event_id:
            hold = await self._read_hold(attempt, proposal_id, event_id)
        holders = hold.holders
        for holder in holders:
            if holder.status is Status.EXECUTED:
                raise ExecutionRefused(
                    m.text(
                        "refusal.bank_event_executed", m.ENGLISH, event=event_id, other=holder.id
                    )
                )
        mine = hold.mine
        for holder in holders:
            if mine is None or (holder.proposed_at, holder.id) < mine:
                raise BankEventBusy(
                    m.text("refusal.bank_event_waiting", m.ENGLISH, event=event_id, other=holder.id)
                )

    async def _read_hold(self, attempt: Attempt, proposal_id: uuid.UUID, event_id: str) -> BankHold:
        """The event's holders read now, in a unit of work of its own: for a claim that did
        not read them (the Claimer reads them with the claim, `Claim.bank_hold`)."""
        claim = attempt.claim
        named = held_event(proposal_id, claim.data)
        exclude = named[1] if named is not None else {proposal_id}
        async with self._uow() as uow:
            hold = await read_bank_hold(uow, claim.tenant_id, event_id, exclude=exclude, mine=None)
            if not hold.holders:
                return hold
            me = await uow.proposals.get(claim.tenant_id, proposal_id)
        mine = (me.proposed_at, me.id) if me is not None else None
        return BankHold(event_id=event_id, holders=hold.holders, mine=mine)

    async def take_back(
        self, attempt: Attempt, target_id: uuid.UUID, external: dict[str, str]
    ) -> Acted:
        """Mark the target's bank event incomplete; its file stays (FOLIO_KEEPS_ATTACHMENT),
        which an alert says."""
        event_id = external["folioEventId"]
        bank = self._bank(attempt.claim.tenant_id)
        await attempt.call(lambda: bank.mark_incomplete(event_id))
        ids = {"folioEventId": event_id, "note": FOLIO_KEEPS_ATTACHMENT}
        if "folioAttachmentId" in external:
            ids["folioAttachmentId"] = external["folioAttachmentId"]
        message = (
            f"{FOLIO_KEEPS_ATTACHMENT} (event {event_id}, attachment "
            f"{external.get('folioAttachmentId', 'unknown')}, proposal {target_id})"
        )
        return Acted(external_ids=ids, alerts=[("attachment-kept", "warning", message)])


def vat_note(data: ReceiptAttachmentData) -> str:
    """A receipt's parts per VAT rate as one line for a bank event's note (ADR 0052):
    "MVA per sats: 15 % av 152,00 kr (mva 19,83 kr); 25 % av 41,90 kr (mva 8,38 kr)";
    a reverse-charge receipt's code(s) instead (ADR 0056 addendum)."""
    if is_reverse_charge(data):
        accounts = [item.account_code or data.account_code for item in line_items_of(data)]
        codes = sorted({foreign_service_code(a) for a in accounts or [data.account_code]})
        return m.text("note.reverse_charge", m.NORWEGIAN, codes="/".join(codes))
    parts = "; ".join(
        f"{_rate(item.vat_rate)} % av {money.kroner_text(item.amount, data.currency)} "
        f"({_vat_said(data, item)})"
        for item in line_items_of(data)
    )
    return f"MVA per sats: {parts}"


def _vat_said(data: ReceiptAttachmentData, item: LineItem) -> str:
    """A part's VAT for the note; a part on an account without a deduction right (ADR
    0055: representation) has none to deduct, which the note says instead."""
    if no_deduction(item.account_code or data.account_code):
        return "ingen fradragsrett"
    return f"mva {money.kroner_text(money.vat_of_gross(item.amount, item.vat_rate), data.currency)}"


def _rate(rate: object) -> str:
    return str(rate).replace(".", ",")
