"""The books' part of step 2 (Fiken): supplier invoices and expenses registered as
purchases with their documents, and purchases taken back.

Every purchase carries our reference, so an attempt after the first finds what an earlier
one created instead of creating it again.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Final

import msgspec

from bookkeeper.application import messages as m
from bookkeeper.application.errors import ExternalError, ExternalRejected
from bookkeeper.application.execution.attempt import Acted, Attempt
from bookkeeper.application.execution.claims import claim_document
from bookkeeper.application.execution.policy import (
    ATTACHABLE_TYPES,
    ExecutionPolicy,
    ExecutionRefused,
    attachment_filename,
    reference,
    safe_error,
)
from bookkeeper.application.ports import (
    Books,
    BooksProvider,
    Contact,
    Exclusive,
    JournalEntryLineOut,
    NewJournalEntry,
    NewPurchase,
    Purchase,
    PurchaseLine,
    StoredDocument,
    UnitOfWorkFactory,
)
from bookkeeper.application.postings import (
    booked_in_nok,
    exchange_of,
    proposal_exchange,
    tax_table,
)
from bookkeeper.domain import money
from bookkeeper.domain.events import (
    ExpenseRegistrationData,
    InvoiceRegistrationData,
    LineItem,
    credited_invoice_of,
    is_credit_note,
    line_items_of,
)
from bookkeeper.domain.ledger import (
    foreign_service_fiken_vat_type,
    is_reverse_charge,
    purchase_vat,
)
from bookkeeper.domain.proposals import Proposal
from bookkeeper.domain.rules import TaxTable
from bookkeeper.domain.text import shorten

_MAX_DESCRIPTION: Final = 200
_log = logging.getLogger("bookkeeper.executor")


def supplier_keys(
    tenant_id: str, organization_number: str | None, name: str, company: str | None = None
) -> tuple[str, ...]:
    """What a supplier's find-and-create must hold, sorted: its name (whitespace collapsed,
    case folded) and, when it has one, its organisation number (without spaces), each
    within the company the contact is created in (`company`, Books.company_key: tenants
    booking into one Fiken company share its contacts, ADR 0047), else within the tenant.
    Two invoices that could find or create the same contact — same number, or same name
    (`find_supplier` falls back to the name) — share a key."""
    scope = f"company\x1f{company}" if company else f"tenant\x1f{tenant_id}"
    keys = {f"supplier\x1f{scope}\x1fname\x1f{' '.join(name.split()).casefold()}"}
    number = "".join(organization_number.split()) if organization_number else ""
    if number:
        keys.add(f"supplier\x1f{scope}\x1forg\x1f{number}")
    return tuple(sorted(keys))


class BooksActions:
    """Purchases in the books, each remote call under the attempt's guard."""

    def __init__(
        self,
        books: BooksProvider,
        uow_factory: UnitOfWorkFactory,
        policy: ExecutionPolicy,
        exclusive: Exclusive,
    ) -> None:
        self._books = books
        self._uow = uow_factory
        self._policy = policy
        #: One supplier's find-and-create at a time (in this process; across the replicas
        #: on PostgreSQL).
        self._exclusive = exclusive

    async def register_purchase(
        self,
        attempt: Attempt,
        proposal_id: uuid.UUID,
        data: InvoiceRegistrationData | ExpenseRegistrationData,
    ) -> Acted:
        """A supplier invoice (with its supplier) or a paid expense as a purchase, and its
        document attached to it; a supplier's credit note as a journal entry (ADR 0054)."""
        if is_credit_note(data):
            return await self.register_credit_note(attempt, proposal_id, data)
        tenant = attempt.claim.tenant_id
        ref = reference(proposal_id)
        document, content = await claim_document(
            self._uow, attempt.claim, data.document_hash, required=False
        )
        document, kept = _attachable(document, ref)
        books = self._books(tenant)
        existing: Purchase | None = None
        if attempt.reconcile:
            existing = await attempt.call(lambda: books.find_purchase(ref, data.date))
            if existing is not None and existing.deleted:
                raise ExecutionRefused(
                    m.text("refusal.purchase_deleted", m.ENGLISH, id=existing.id, reference=ref)
                )
        ids: dict[str, str] = {}
        unnamed = 0
        if existing is not None:
            attempt.reconciled = True
            purchase_id = existing.id
            attached = existing.attachments
            unnamed = existing.unnamed_attachments
            if existing.supplier_id is not None:
                ids["fikenContactId"] = existing.supplier_id
        else:
            supplier_id: str | None = None
            if isinstance(data, InvoiceRegistrationData):
                supplier = await self._supplier(attempt, books, data)
                supplier_id = ids["fikenContactId"] = supplier.id
            purchase = await self._new_purchase(attempt, books, ref, data, supplier_id)
            purchase_id = await attempt.call(lambda: books.create_purchase(purchase))
            attached = ()
        alerts: list[tuple[str, str, str]] = []
        if document is not None and content is not None:
            filename = attachment_filename(proposal_id, document)
            if not _attached(attached, unnamed):
                alerts = await _attach(
                    attempt,
                    lambda: books.attach_to_purchase(
                        purchase_id, filename, content, document.content_type
                    ),
                    f"purchase {purchase_id}",
                    ref,
                )
        ids["fikenPurchaseId"] = purchase_id
        return Acted(external_ids=ids, alerts=[*kept, *alerts])

    async def register_credit_note(
        self, attempt: Attempt, proposal_id: uuid.UUID, data: InvoiceRegistrationData
    ) -> Acted:
        """A supplier's credit note (ADR 0054) as a general journal entry ("fri
        postering", POST /generalJournalEntries — Fiken's API has no supplier credit
        note): the supplier's account debited with the gross amount, and per VAT rate the
        cost account credited with its gross under the rate's input VAT code, from which
        Fiken derives the reversed VAT; its document attached to the entry. Once: an
        attempt after the first looks for the entry carrying our reference on its date
        before posting, and for the document among the entry's attachments (by the name
        carrying our reference, as a purchase's) before attaching it."""
        books = self._books(attempt.claim.tenant_id)
        ref = reference(proposal_id)
        document, content = await claim_document(
            self._uow, attempt.claim, data.document_hash, required=False
        )
        document, kept = _attachable(document, ref)
        ids: dict[str, str] = {}
        if attempt.reconcile:
            found = await attempt.call(lambda: books.find_journal_entry(ref, data.date))
            if found is not None:
                if found.cancelled:
                    raise ExecutionRefused(
                        m.text(
                            "refusal.journal_entry_cancelled",
                            m.ENGLISH,
                            id=found.id,
                            reference=ref,
                        )
                    )
                attempt.reconciled = True
                alerts = await self._attach_to_entry(
                    attempt,
                    books,
                    found.id,
                    found.attachments,
                    proposal_id,
                    document,
                    content,
                    unnamed=found.unnamed_attachments,
                )
                return Acted(
                    external_ids={"fikenJournalEntryId": found.id}, alerts=[*kept, *alerts]
                )
        supplier = await self._supplier(attempt, books, data)
        ids["fikenContactId"] = supplier.id
        payable = supplier.supplier_account_code or self._policy.payables_account
        lines = await self._credit_note_lines(attempt, data, proposal_id, payable)
        number = f" {data.invoice_number}" if data.invoice_number else ""
        credited = credited_invoice_of(data)
        against = f" (faktura {credited})" if credited else ""
        entry = NewJournalEntry(
            date=data.date,
            description=_trim(f"Kreditnota{number} {data.supplier}{against}"),
            lines=tuple(line for line, _ in lines),
            reference=ref,
        )
        entry_id = await attempt.call(lambda: books.create_journal_entry(entry))
        alerts = await self._attach_to_entry(
            attempt, books, entry_id, (), proposal_id, document, content
        )
        ids["fikenJournalEntryId"] = entry_id
        return Acted(external_ids=ids, alerts=[*kept, *alerts])

    async def _attach_to_entry(
        self,
        attempt: Attempt,
        books: Books,
        entry_id: str,
        attached: tuple[str, ...],
        proposal_id: uuid.UUID,
        document: StoredDocument | None,
        content: bytes | None,
        *,
        unnamed: int = 0,
    ) -> list[tuple[str, str, str]]:
        """The credit note's document on its journal entry, unless it is there already
        (`attached`: the entry's file names as found, `unnamed` how many more it has
        whose names the books do not tell; none on a new entry); the alert if the books
        refused it."""
        if document is None or content is None:
            return []
        filename = attachment_filename(proposal_id, document)
        if _attached(attached, unnamed):
            return []
        return await _attach(
            attempt,
            lambda: books.attach_to_journal_entry(
                entry_id, filename, content, document.content_type
            ),
            f"journal entry {entry_id}",
            reference(proposal_id),
        )

    async def _credit_note_lines(
        self,
        attempt: Attempt,
        data: InvoiceRegistrationData,
        converted_by: uuid.UUID,
        payable: str,
    ) -> list[tuple[JournalEntryLineOut, Decimal | None]]:
        """A credit note's journal lines, each with the VAT rate its code derives (None: no
        VAT): the payable debited with the gross, per part the cost credited with its gross
        under the part's input VAT code. In NOK: a foreign credit note by the conversion
        recorded with the proposal `converted_by` (ADR 0051)."""
        claim = attempt.claim
        rates = claim.rates
        if rates is None:
            rates = await tax_table(self._uow, claim.tenant_id)
        if claim.stream and converted_by == claim.proposal_id:
            exchange = exchange_of(claim.stream, claim.proposal_id)
        else:
            async with self._uow() as uow:
                exchange = await proposal_exchange(uow, claim.tenant_id, converted_by)
        in_nok = booked_in_nok(data, exchange)
        assert isinstance(in_nok, InvoiceRegistrationData)
        lines: list[tuple[JournalEntryLineOut, Decimal | None]] = [
            (JournalEntryLineOut(amount=in_nok.amount, debit_account=payable), None)
        ]
        parts = line_items_of(in_nok) or (
            LineItem(description="", amount=in_nok.amount, vat_rate=in_nok.vat_rate),
        )
        for part in parts:
            account = part.account_code or in_nok.account_code
            # A credit of a cost without deduction right (ADR 0055) takes back no VAT.
            treatment = purchase_vat(account, part.vat_rate, rates, in_nok.date)
            code = treatment.saft_code if treatment.vat_account is not None else ""
            coded = code.isdigit()
            line = JournalEntryLineOut(
                amount=part.amount,
                credit_account=account,
                credit_vat_code=int(code) if coded else None,
            )
            lines.append((line, treatment.rate if coded else None))
        return lines

    async def take_back_credit_note(
        self, attempt: Attempt, target_id: uuid.UUID, target: Proposal, reason: str
    ) -> Acted:
        """Cancel the target credit note's journal entry by its counter-entry (a closed
        Fiken entry is never deleted): the cost debited at its net under the same VAT
        code (Fiken adds the VAT), the supplier's account credited with the gross, dated
        as the credit note. Once: an attempt after the first looks for it first."""
        data = target.effective_data
        entry_id = target.external_ids["fikenJournalEntryId"]
        assert isinstance(data, InvoiceRegistrationData)
        books = self._books(attempt.claim.tenant_id)
        ref = f"{reference(attempt.claim.proposal_id)}-r"
        ids = {"reversedFikenJournalEntryId": entry_id}
        if attempt.reconcile:
            found = await attempt.call(lambda: books.find_journal_entry(ref, data.date))
            if found is not None and not found.cancelled:
                attempt.reconciled = True
                return Acted(external_ids=ids)
        payable = self._policy.payables_account
        if "fikenContactId" in target.external_ids:
            supplier = await self._supplier(attempt, books, data)
            payable = supplier.supplier_account_code or payable
        counter: list[JournalEntryLineOut] = []
        for line, rate in await self._credit_note_lines(attempt, data, target_id, payable):
            if line.debit_account is not None:
                counter.append(JournalEntryLineOut(amount=line.amount, credit_account=payable))
                continue
            vat = money.vat_of_gross(line.amount, rate) if rate is not None else Decimal(0)
            counter.append(
                JournalEntryLineOut(
                    amount=line.amount - vat,
                    debit_account=line.credit_account,
                    debit_vat_code=line.credit_vat_code,
                )
            )
        entry = NewJournalEntry(
            date=data.date,
            description=_trim(f"Reversert: {reason}"),
            lines=tuple(counter),
            reference=ref,
        )
        await attempt.call(lambda: books.create_journal_entry(entry))
        return Acted(external_ids=ids)

    async def take_back(
        self, attempt: Attempt, target_id: uuid.UUID, target: Proposal, reason: str
    ) -> Acted:
        """Delete the target's purchase (once: an attempt after the first looks whether an
        earlier one did)."""
        purchase_id = target.external_ids["fikenPurchaseId"]
        books = self._books(attempt.claim.tenant_id)
        done = False
        if attempt.reconcile:
            target_data = target.effective_data
            date = getattr(target_data, "date", None)
            if isinstance(date, dt.date):
                found = await attempt.call(lambda: books.find_purchase(reference(target_id), date))
                done = found is not None and found.id == purchase_id and found.deleted
                attempt.reconciled = attempt.reconciled or done
        if not done:
            await attempt.call(
                lambda: books.delete_purchase(purchase_id, _trim(f"Reversert: {reason}"))
            )
        return Acted(external_ids={"reversedFikenPurchaseId": purchase_id})

    async def withdraw(self, attempt: Attempt, registered: Acted, reason: str) -> None:
        """Delete the purchase a correction just registered (`registered`), when the
        purchase it replaces cannot be taken back: the correction fails, and the books are
        left as the ledger is. Best effort: if this fails too, the correction's failure
        says what was refused, and the purchase is found by its reference."""
        purchase_id = registered.external_ids.get("fikenPurchaseId")
        if purchase_id is None:
            return
        books = self._books(attempt.claim.tenant_id)
        try:
            await attempt.call(
                lambda: books.delete_purchase(purchase_id, _trim(f"Korreksjon avbrutt: {reason}"))
            )
        except ExternalError as error:
            _log.warning(
                "could not withdraw purchase %s of correction %s: %s",
                purchase_id,
                attempt.claim.proposal_id,
                safe_error(error),
            )

    async def _supplier(
        self, attempt: Attempt, books: Books, data: InvoiceRegistrationData
    ) -> Contact:
        # Two passes of this process, two executors in it, or two replicas may run invoices
        # of the same new supplier at once (of one tenant, or of two tenants that book into
        # one company, ADR 0047): the find and the create go together, one at a time per
        # supplier, so the second finds what the first created (ADR 0043). The port makes
        # it exclusive per key (scoped by the company, ADR 0047); the adapter says how —
        # asyncio locks in one process, advisory locks across replicas as well. The keys
        # are taken before any Fiken request and let go after the last, and never while
        # the Fiken gate is held: the gate is taken per request inside, so no holder of
        # the gate ever waits for them (no inverted order).
        company = await attempt.call(books.company_key)
        keys = supplier_keys(
            attempt.claim.tenant_id, data.supplier_org_number, data.supplier, company
        )
        async with self._exclusive.hold(keys):
            # Find first, always: a create that timed out may have committed.
            found = await attempt.call(
                lambda: books.find_supplier(data.supplier_org_number, data.supplier)
            )
            if found is not None:
                return found
            return await attempt.call(
                lambda: books.create_supplier(data.supplier, data.supplier_org_number)
            )

    async def _new_purchase(
        self,
        attempt: Attempt,
        books: Books,
        ref: str,
        data: InvoiceRegistrationData | ExpenseRegistrationData,
        supplier_id: str | None,
    ) -> NewPurchase:
        rates = attempt.claim.rates
        if rates is None:
            rates = await tax_table(self._uow, attempt.claim.tenant_id)
        lines = purchase_lines(data, rates)
        claim = attempt.claim
        if claim.stream:  # read with the claim: no unit of work of its own
            exchange = exchange_of(claim.stream, claim.proposal_id)
        else:
            async with self._uow() as uow:
                exchange = await proposal_exchange(uow, claim.tenant_id, claim.proposal_id)
        in_nok = booked_in_nok(data, exchange)
        if in_nok is not data:
            assert isinstance(in_nok, InvoiceRegistrationData | ExpenseRegistrationData)
            lines = tuple(
                msgspec.structs.replace(line, net_nok=nok.net, vat_nok=nok.vat)
                for line, nok in zip(lines, purchase_lines(in_nok, rates), strict=True)
            )
        if isinstance(data, InvoiceRegistrationData):
            return NewPurchase(
                kind="supplier",
                date=data.date,
                currency=data.currency,
                lines=lines,
                reference=ref,
                identifier=data.invoice_number,
                due_date=data.due_date,
                supplier_id=supplier_id,
                paid=False,
                kid=data.kid,
            )
        account = self._policy.payment_account
        if account is None:
            accounts = await attempt.call(books.bank_accounts)
            active = [a for a in accounts if not a.inactive]
            if not active:
                raise ExecutionRefused(m.text("refusal.no_bank_account", m.ENGLISH))
            account = active[0].account_code
        return NewPurchase(
            kind="cash_purchase",
            date=data.date,
            currency=data.currency,
            lines=lines,
            reference=ref,
            identifier=data.document_number,
            paid=True,
            payment_account=account,
            payment_date=data.date,
        )


def purchase_lines(
    data: InvoiceRegistrationData | ExpenseRegistrationData,
    rates: TaxTable | None = None,
) -> tuple[PurchaseLine, ...]:
    """Fiken purchase lines: net and VAT per rate, as the ledger posting books them (with
    `rates`, the rate's treatment valid on the document's date)."""

    def line(
        description: str, gross: Decimal, rate: Decimal, account: str, vat: Decimal | None
    ) -> PurchaseLine:
        if is_reverse_charge(data):
            # A service bought from abroad (ADR 0056): the net the supplier charged, no VAT
            # of theirs; Fiken calculates the buyer's VAT from the vatType, as the ledger:
            # 86's deductible type, 87's on an account without a deduction right.
            return PurchaseLine(
                description=_trim(description),
                net=gross,
                vat=Decimal(0),
                vat_type=foreign_service_fiken_vat_type(account),
                account=account,
            )
        treatment = purchase_vat(account, rate, rates, data.date)
        amount = money.vat_of_gross(gross, rate) if vat is None else vat
        if treatment.vat_account is None:
            amount = Decimal(0)
        return PurchaseLine(
            description=_trim(description),
            net=gross - amount,
            vat=amount,
            vat_type=treatment.fiken_vat_type,
            account=account,
        )

    if isinstance(data, InvoiceRegistrationData):
        if data.line_items:
            return tuple(
                line(
                    item.description,
                    item.amount,
                    item.vat_rate,
                    item.account_code or data.account_code,
                    None,
                )
                for item in data.line_items
            )
        number = f" {data.invoice_number}" if data.invoice_number else ""
        description = f"{data.supplier} faktura{number}"
    else:
        description = (
            data.description
            or " ".join(part for part in (data.merchant_name, data.category) if part)
            or data.employee
        )
        if parts := line_items_of(data):
            # An expense with several VAT rates (ADR 0052): one purchase line per rate,
            # as the ledger posts it.
            return tuple(
                line(
                    f"{description} {part.description}",
                    part.amount,
                    part.vat_rate,
                    part.account_code or data.account_code,
                    None,
                )
                for part in parts
            )
    return (line(description, data.amount, data.vat_rate, data.account_code, data.vat_amount),)


async def _attach(
    attempt: Attempt, upload: Callable[[], Awaitable[None]], target: str, ref: str
) -> list[tuple[str, str, str]]:
    """Upload a document to the object just created or found (`target`, carrying `ref`);
    an alert if the books refuse it for good (a 4xx: too large, invalid …). The booking
    stands then: failing the proposal would leave the books holding an entry our ledger
    never posts. A failure that may pass (timeout, 5xx, 429) is raised as ever, and the
    next attempt finds the object by reference and uploads the document again."""
    try:
        await attempt.call(upload)
    except ExternalRejected as error:
        message = (
            f"The {target} (reference {ref}) is booked, but its document was refused: "
            f"{safe_error(error)}. Attach the document to it by hand."
        )
        return [("document-not-attached", "error", message)]
    return []


def _attachable(
    document: StoredDocument | None, ref: str
) -> tuple[StoredDocument | None, list[tuple[str, str, str]]]:
    """The document when the books take its type; else None and the alert that it stays
    here only: an EHF invoice without an embedded PDF is its XML, which Fiken does not
    take as an attachment (PDF, PNG, JPEG, GIF), and the booking should not fail on it."""
    if document is None or document.content_type in ATTACHABLE_TYPES:
        return document, []
    message = (
        f"Booked (reference {ref}) without an attachment: the document is "
        f"{document.content_type} ({document.filename}), which the books do not take; "
        "it is kept here. Attach a PDF copy by hand if one is needed."
    )
    return None, [("document-not-attachable", "warning", message)]


def _attached(names: tuple[str, ...], unnamed: int) -> bool:
    """Whether our document is already among the attachments of an object found by our
    reference, i.e. created by an earlier attempt (`names` as the books tell them, and
    `unnamed` more whose names they do not): we attach one document to it, ours, so any
    attachment is that one, whatever its name. Fiken's attachments have no name field;
    a download URL that ends in a file id, or in a name the server chose ("original.pdf"
    — nothing in the spec says it ends in the name sent), would otherwise have the
    document uploaded again by every attempt that finds the object (a duplicate in the
    books)."""
    return bool(names) or unnamed > 0


def _trim(text: str) -> str:
    """A description within Fiken's 200 characters, cut at a word (the adapter cuts
    again, at a word too, where our reference follows it)."""
    return shorten(text, _MAX_DESCRIPTION)
