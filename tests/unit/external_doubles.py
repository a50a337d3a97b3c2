"""In-memory doubles of the Books (Fiken) and Bank (Folio) ports, with fault injection, and a
harness that wires them to the executor on in-memory storage.

Faults are scripted on a `Faults` object shared by every double of a `World`:

* `fail_next(n, retryable=…)` — the next n matching calls raise before doing anything
  (ExternalUnavailable / ExternalRateLimited when retryable, ExternalRejected otherwise);
* `commit_then_timeout(n)` — the next n matching calls take effect, then raise
  ExternalUnavailable (a timeout after the remote side committed);
* `crash(...)` — the next matching call raises SimulatedCrash (a BaseException, like the
  process dying) before it takes effect (`after=False`) or after the remote side committed
  (`after=True`).

Each double counts what it created, so a test can assert that no remote object was created
twice for one proposal.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, cast

from bookkeeper.adapters.memory import MemoryUnitOfWork, MemoryUnitOfWorkFactory
from bookkeeper.adapters.memory_locks import InProcessLocks
from bookkeeper.adapters.system import UuidV7Ids
from bookkeeper.application.authorization import RoleAuthorizer
from bookkeeper.application.commands import ApproveProposal, RejectProposal, SubmitEvent
from bookkeeper.application.dispatch import Dispatcher
from bookkeeper.application.documents import Documents
from bookkeeper.application.errors import (
    ExternalNotFound,
    ExternalRateLimited,
    ExternalRejected,
    ExternalUnavailable,
)
from bookkeeper.application.execution import ExecutionPolicy, Executor
from bookkeeper.application.handlers import Handlers
from bookkeeper.application.ports import (
    BankAccount,
    BankBalance,
    BankProvider,
    BankTransaction,
    BooksAccount,
    BooksAccountBalance,
    BooksBankAccount,
    BooksCompany,
    BooksJournalEntry,
    BooksProvider,
    Contact,
    Exclusive,
    NewEvent,
    NewJournalEntry,
    NewPurchase,
    Principal,
    ProposalView,
    Purchase,
    RecordedEvent,
    UnitOfWork,
    UnitOfWorkFactory,
)
from bookkeeper.application.projections import commit_proposal_in_turn
from bookkeeper.domain.events import (
    CorrectionData,
    Corrections,
    ExpenseRegistrationData,
    InvoiceRegistrationData,
    JournalEntryPostedData,
    PatternSuggestionData,
    ReceiptAttachmentData,
    ReversalData,
)
from tests.unit.conftest import FixedClock

#: The tenant a harness works for unless told otherwise.
TENANT = "acme"
PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


class SimulatedCrash(BaseException):
    """The process died at this point (not an Exception: nothing may catch and carry on)."""


# --- faults -------------------------------------------------------------------------------


@dataclass
class _Rule:
    kind: str  # "fail", "timeout-after-commit", "crash-before", "crash-after"
    remaining: int
    operations: frozenset[str] | None
    error: Callable[[str], BaseException] | None = None

    def matches(self, operation: str) -> bool:
        return self.remaining > 0 and (self.operations is None or operation in self.operations)


class Faults:
    """Scripted failures of remote calls; every double of a World consults the same one."""

    def __init__(self) -> None:
        self._rules: list[_Rule] = []

    def clear(self) -> None:
        self._rules.clear()

    def fail_next(
        self,
        n: int = 1,
        *,
        retryable: bool = True,
        operations: set[str] | None = None,
        retry_after: float | None = None,
        rate_limited: bool = False,
    ) -> None:
        """The next n matching calls fail before taking effect."""

        def error(operation: str) -> BaseException:
            if rate_limited:
                return ExternalRateLimited(
                    f"{operation}: 429 too many requests", system="double", retry_after=retry_after
                )
            if retryable:
                return ExternalUnavailable(
                    f"{operation}: 503 unavailable", system="double", status=503
                )
            return ExternalRejected(f"{operation}: 400 rejected", system="double", status=400)

        self._rules.append(_Rule("fail", n, _ops(operations), error))

    def commit_then_timeout(self, n: int = 1, *, operations: set[str] | None = None) -> None:
        """The next n matching calls take effect remotely, then time out on our side."""
        self._rules.append(
            _Rule(
                "timeout-after-commit",
                n,
                _ops(operations),
                lambda op: ExternalUnavailable(f"{op}: read timeout", system="double"),
            )
        )

    def crash(self, *, after: bool, operations: set[str] | None = None) -> None:
        """The next matching call kills the process, before or after it took effect."""
        self._rules.append(_Rule("crash-after" if after else "crash-before", 1, _ops(operations)))

    def before(self, operation: str) -> None:
        for rule in self._rules:
            if rule.kind in ("fail", "crash-before") and rule.matches(operation):
                rule.remaining -= 1
                if rule.kind == "crash-before":
                    raise SimulatedCrash(f"crash before {operation}")
                assert rule.error is not None
                raise rule.error(operation)

    def after(self, operation: str) -> None:
        for rule in self._rules:
            if rule.kind in ("timeout-after-commit", "crash-after") and rule.matches(operation):
                rule.remaining -= 1
                if rule.kind == "crash-after":
                    raise SimulatedCrash(f"crash after {operation} committed")
                assert rule.error is not None
                raise rule.error(operation)

    @property
    def armed(self) -> bool:
        return any(rule.remaining > 0 for rule in self._rules)


def _ops(operations: set[str] | None) -> frozenset[str] | None:
    return frozenset(operations) if operations is not None else None


# --- the doubles --------------------------------------------------------------------------


class _Remote:
    """What both doubles share: the faults, the call log, and the in-flight counter."""

    def __init__(self, world: World, tenant: str) -> None:
        self.world = world
        self.tenant = tenant
        self.calls: list[str] = []
        self._in_flight = 0
        self.max_in_flight = 0

    async def _enter(self, operation: str) -> None:
        self.calls.append(operation)
        self.world.calls.append((self.tenant, operation))
        self._in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            if self.world.interleave:
                await asyncio.sleep(0)
            self.world.faults.before(operation)
        except BaseException:
            self._in_flight -= 1
            raise

    async def _leave(self, operation: str) -> None:
        try:
            if self.world.interleave:
                await asyncio.sleep(0)
            self.world.faults.after(operation)
        finally:
            self._in_flight -= 1


@dataclass
class StoredPurchase:
    purchase: NewPurchase
    id: str
    deleted: bool = False
    attachments: list[str] = field(default_factory=list)

    def view(self) -> Purchase:
        p = self.purchase
        return Purchase(
            id=self.id,
            kind=p.kind,
            date=p.date,
            identifier=p.identifier,
            gross=sum((line.net + line.vat for line in p.lines), Decimal(0)),
            currency=p.currency,
            paid=p.paid,
            deleted=self.deleted,
            supplier_id=p.supplier_id,
            due_date=p.due_date,
            reference=p.reference,
            attachments=tuple(self.attachments),
        )


class MemoryBooks(_Remote):
    """One company's books (Fiken) in memory."""

    name = "memory-books"

    def __init__(self, world: World, tenant: str) -> None:
        super().__init__(world, tenant)
        #: The company's key (Books.company_key); None: the tenant's own company (a test
        #: sets one that tenants share).
        self.shared_company: str | None = None
        self.suppliers: dict[str, Contact] = {}
        self.purchases: dict[str, StoredPurchase] = {}
        self.journal_entries: dict[str, NewJournalEntry] = {}
        #: File names attached to each journal entry (a credit note's document).
        self.journal_attachments: dict[str, list[str]] = {}
        self.created_references: Counter[str] = Counter()
        self.created_suppliers: Counter[str] = Counter()
        self.attached: Counter[tuple[str, str]] = Counter()
        self.deleted: Counter[str] = Counter()
        self.bank_account_list = [
            BooksBankAccount(id="b1", name="Driftskonto", account_code="1920:10001")
        ]

    async def company(self) -> BooksCompany:
        return BooksCompany(slug=self.tenant, name=self.tenant)

    async def company_key(self) -> str | None:
        return self.shared_company

    async def accounts(self) -> list[BooksAccount]:
        return []

    async def account_balances(self, date: dt.date) -> list[BooksAccountBalance]:
        return []

    async def bank_accounts(self) -> list[BooksBankAccount]:
        await self._enter("bank_accounts")
        await self._leave("bank_accounts")
        return list(self.bank_account_list)

    async def find_supplier(self, organization_number: str | None, name: str) -> Contact | None:
        await self._enter("find_supplier")
        found = next(
            (
                c
                for c in self.suppliers.values()
                if (organization_number and c.organization_number == organization_number)
                or (not organization_number and c.name == name)
            ),
            None,
        )
        await self._leave("find_supplier")
        return found

    async def create_supplier(self, name: str, organization_number: str | None) -> Contact:
        await self._enter("create_supplier")
        contact = Contact(
            id=f"c{len(self.suppliers) + 1}",
            name=name,
            organization_number=organization_number,
            supplier_account_code=f"2400:{20001 + len(self.suppliers)}",
        )
        self.suppliers[contact.id] = contact
        self.created_suppliers[organization_number or name] += 1
        await self._leave("create_supplier")
        return contact

    async def create_purchase(self, purchase: NewPurchase) -> str:
        await self._enter("create_purchase")
        purchase_id = f"p{len(self.purchases) + 1}"
        self.purchases[purchase_id] = StoredPurchase(purchase, purchase_id)
        self.created_references[purchase.reference] += 1
        await self._leave("create_purchase")
        return purchase_id

    async def find_purchase(self, reference: str, date: dt.date) -> Purchase | None:
        await self._enter("find_purchase")
        found = [
            p.view()
            for p in self.purchases.values()
            if p.purchase.reference == reference and p.purchase.date == date
        ]
        await self._leave("find_purchase")
        return found[-1] if found else None

    async def purchases(
        self, start: dt.date, end: dt.date, kind: str | None = None
    ) -> list[Purchase]:
        return [
            p.view()
            for p in self.purchases.values()
            if start <= p.purchase.date <= end and (kind is None or p.purchase.kind == kind)
        ]

    async def attach_to_purchase(
        self, purchase_id: str, filename: str, content: bytes, content_type: str
    ) -> None:
        await self._enter("attach_to_purchase")
        stored = self.purchases.get(purchase_id)
        if stored is None:
            raise ExternalNotFound(f"no purchase {purchase_id}", system="double", status=404)
        stored.attachments.append(filename)
        self.attached[(purchase_id, filename)] += 1
        await self._leave("attach_to_purchase")

    async def delete_purchase(self, purchase_id: str, description: str) -> None:
        await self._enter("delete_purchase")
        stored = self.purchases.get(purchase_id)
        if stored is None:
            raise ExternalNotFound(f"no purchase {purchase_id}", system="double", status=404)
        if stored.deleted:
            raise ExternalRejected(
                f"purchase {purchase_id} is deleted", system="double", status=400
            )
        stored.deleted = True
        self.deleted[purchase_id] += 1
        await self._leave("delete_purchase")

    async def create_journal_entry(self, entry: NewJournalEntry) -> str:
        # The executor posts a supplier's credit note as one (ADR 0054).
        await self._enter("create_journal_entry")
        entry_id = f"j{len(self.journal_entries) + 1}"
        self.journal_entries[entry_id] = entry
        self.created_references[entry.reference] += 1
        await self._leave("create_journal_entry")
        return entry_id

    async def find_journal_entry(self, reference: str, date: dt.date) -> BooksJournalEntry | None:
        await self._enter("find_journal_entry")
        found = [
            entry_id
            for entry_id, entry in self.journal_entries.items()
            if entry.reference == reference and entry.date == date
        ]
        await self._leave("find_journal_entry")
        if not found:
            return None
        return BooksJournalEntry(
            id=found[0], attachments=tuple(self.journal_attachments.get(found[0], ()))
        )

    async def attach_to_journal_entry(
        self, entry_id: str, filename: str, content: bytes, content_type: str
    ) -> None:
        await self._enter("attach_to_journal_entry")
        if entry_id not in self.journal_entries:
            raise ExternalNotFound(f"no journal entry {entry_id}", system="double", status=404)
        self.journal_attachments.setdefault(entry_id, []).append(filename)
        self.attached[(entry_id, filename)] += 1
        await self._leave("attach_to_journal_entry")

    def live_purchases(self) -> list[StoredPurchase]:
        return [p for p in self.purchases.values() if not p.deleted]


@dataclass
class BankEvent:
    id: str
    attachments: dict[str, str] = field(default_factory=dict)  # attachment id → filename
    sizes: dict[str, int] = field(default_factory=dict)  # attachment id → bytes
    complete: bool = False
    note: str = ""


class MemoryBank(_Remote):
    """One company's bank (Folio) in memory; any event id exists unless marked missing."""

    name = "memory-bank"

    def __init__(self, world: World, tenant: str) -> None:
        super().__init__(world, tenant)
        self.state: dict[str, BankEvent] = {}
        self.missing: set[str] = set()
        self.attached: Counter[tuple[str, str]] = Counter()
        self._attachment_ids = 0

    def _event(self, event_id: str) -> BankEvent:
        if event_id in self.missing:
            raise ExternalNotFound(f"no event {event_id}", system="double", status=404)
        return self.state.setdefault(event_id, BankEvent(event_id))

    async def accounts(self) -> list[BankAccount]:
        return []

    async def balance(self, account_number: str, date: dt.date) -> BankBalance:
        raise NotImplementedError

    async def transactions(self, start: dt.date, end: dt.date) -> list[BankTransaction]:
        return []

    async def events(self, start: dt.date, end: dt.date) -> list[BankTransaction]:
        return []

    async def attach_receipt(
        self, event_id: str, filename: str, content: bytes, content_type: str
    ) -> str:
        await self._enter("attach_receipt")
        event = self._event(event_id)
        self._attachment_ids += 1
        attachment_id = f"a{self._attachment_ids}"
        event.attachments[attachment_id] = filename
        event.sizes[attachment_id] = len(content)
        self.attached[(event_id, filename)] += 1
        await self._leave("attach_receipt")
        return attachment_id

    async def find_attachment(
        self, event_id: str, filename: str, around: dt.date, *, size: int | None = None
    ) -> str | None:
        await self._enter("find_attachment")
        event = self._event(event_id)
        found = next(
            (
                a
                for a, name in event.attachments.items()
                if name == filename and (size is None or event.sizes.get(a) == size)
            ),
            None,
        )
        await self._leave("find_attachment")
        return found

    async def mark_complete(self, event_id: str) -> None:
        await self._enter("mark_complete")
        self._event(event_id).complete = True
        await self._leave("mark_complete")

    async def mark_incomplete(self, event_id: str) -> None:
        await self._enter("mark_incomplete")
        self._event(event_id).complete = False
        await self._leave("mark_incomplete")

    async def annotate(self, event_id: str, note: str, around: dt.date) -> None:
        await self._enter("annotate")
        event = self._event(event_id)
        if note not in event.note:
            event.note = f"{event.note}\n{note}" if event.note else note
        await self._leave("annotate")


class World:
    """Every tenant's books and bank, and the faults they share."""

    def __init__(self, *, interleave: bool = False) -> None:
        self.faults = Faults()
        self.interleave = interleave
        self.books_by_tenant: dict[str, MemoryBooks] = {}
        self.bank_by_tenant: dict[str, MemoryBank] = {}
        self.calls: list[tuple[str, str]] = []

    def books(self, tenant: str) -> MemoryBooks:
        return self.books_by_tenant.setdefault(tenant, MemoryBooks(self, tenant))

    def bank(self, tenant: str) -> MemoryBank:
        return self.bank_by_tenant.setdefault(tenant, MemoryBank(self, tenant))

    def duplicates(self) -> list[str]:
        """Remote objects created more than once (for one reference / file / supplier)."""
        found: list[str] = []
        for tenant, books in self.books_by_tenant.items():
            found += [
                f"{tenant} purchase {r}" for r, n in books.created_references.items() if n > 1
            ]
            found += [f"{tenant} supplier {s}" for s, n in books.created_suppliers.items() if n > 1]
            found += [f"{tenant} file {k}" for k, n in books.attached.items() if n > 1]
            found += [f"{tenant} deleted {k}" for k, n in books.deleted.items() if n > 1]
        for tenant, bank in self.bank_by_tenant.items():
            found += [f"{tenant} attachment {k}" for k, n in bank.attached.items() if n > 1]
        return found


# --- storage that lets other tasks in at every call -----------------------------------


class _Yielding:
    """Proxy whose coroutine methods first let other tasks run (sleep(0))."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if not inspect.iscoroutinefunction(attribute):
            return attribute

        async def call(*args: Any, **kwargs: Any) -> Any:
            await asyncio.sleep(0)
            return await attribute(*args, **kwargs)

        return call


class YieldingUnitOfWork:
    """A memory unit of work that yields to other tasks before every read, write and
    commit, as a networked database would: concurrent units interleave at every step."""

    def __init__(self, inner: MemoryUnitOfWork) -> None:
        self._inner = inner
        self.events = _Yielding(inner.events)
        self.proposals = _Yielding(inner.proposals)
        self.patterns = _Yielding(inner.patterns)
        self.settings = _Yielding(inner.settings)
        self.scoring = _Yielding(inner.scoring)
        self.ledger = _Yielding(inner.ledger)
        self.documents = _Yielding(inner.documents)
        self.rules = _Yielding(inner.rules)

    async def __aenter__(self) -> YieldingUnitOfWork:
        await self._inner.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self._inner.__aexit__(*exc)

    async def commit(self) -> None:
        await asyncio.sleep(0)
        await self._inner.commit()

    async def commit_proposal(
        self,
        tenant_id: str,
        stream_id: uuid.UUID,
        existing: Sequence[RecordedEvent],
        events: Sequence[NewEvent],
    ) -> tuple[list[RecordedEvent], ProposalView]:
        # Through the yielding stores, as the steps it stands for would go.
        return await commit_proposal_in_turn(
            cast(UnitOfWork, self), tenant_id, stream_id, existing, events
        )


class YieldingFactory:
    def __init__(self, inner: MemoryUnitOfWorkFactory) -> None:
        self._inner = inner

    def __call__(self) -> Any:
        return YieldingUnitOfWork(self._inner())


# --- a harness: the application on memory storage, the executor on the doubles ----------


def principal(subject: str, role: str, tenant: str = "acme") -> Principal:
    return Principal(subject=subject, tenant_id=tenant, roles=frozenset({role}))


def agent(tenant: str = "acme") -> Principal:
    return principal("book-e", "agent", tenant)


def reviewer(tenant: str = "acme") -> Principal:
    return principal("kari", "reviewer", tenant)


_TYPES: dict[type[Any], str] = {
    ReceiptAttachmentData: "ReceiptAttachmentProposed",
    InvoiceRegistrationData: "InvoiceRegistrationProposed",
    ExpenseRegistrationData: "ExpenseRegistrationProposed",
    ReversalData: "ReversalProposed",
    CorrectionData: "CorrectionProposed",
}


class Harness:
    """Handlers, documents and an executor over one in-memory database and one World."""

    def __init__(
        self,
        *,
        policy: ExecutionPolicy | None = None,
        world: World | None = None,
        uow_factory: UnitOfWorkFactory | None = None,
        clock: FixedClock | None = None,
    ) -> None:
        self.clock = clock or FixedClock()
        #: What the units of work hand their committed events to (register reactions here).
        self.dispatcher = Dispatcher()
        self.memory = MemoryUnitOfWorkFactory(after_commit=self.dispatcher.dispatch)
        self.uow_factory: UnitOfWorkFactory = uow_factory or self.memory
        self.world = world or World()
        self.ids = UuidV7Ids()
        self.handlers = Handlers(self.uow_factory, self.clock, self.ids, RoleAuthorizer())
        self.documents = Documents(self.uow_factory, self.clock, RoleAuthorizer())
        self.policy = policy or ExecutionPolicy()
        #: One process's supplier locks, shared by its executors (as the container's).
        self.exclusive: Exclusive = InProcessLocks()
        self.executor = self.new_executor("executor-1")

    def new_executor(
        self,
        name: str,
        uow_factory: UnitOfWorkFactory | None = None,
        *,
        books: BooksProvider | None = None,
        bank: BankProvider | None = None,
    ) -> Executor:
        """An executor on this harness's storage, clock and policy; by default on the
        World's books and bank."""
        return Executor(
            uow_factory or self.uow_factory,
            books or self.world.books,
            bank or self.world.bank,
            self.clock,
            self.ids,
            self.policy,
            name=name,
            exclusive=self.exclusive,
        )

    async def store(self, content: bytes = PDF, tenant: str = "acme") -> str:
        upload = await self.documents.upload(agent(tenant), content, None, "receipt.pdf")
        return upload.document.sha256

    async def propose(self, data: Any, tenant: str = "acme") -> uuid.UUID:
        result = await self.handlers.submit(
            SubmitEvent(type=_TYPES[type(data)], data=data, principal=agent(tenant))
        )
        return result.stream_id

    async def approve(
        self, proposal_id: uuid.UUID, tenant: str = "acme", corrections: Corrections | None = None
    ) -> None:
        await self.handlers.approve(
            ApproveProposal(
                principal=reviewer(tenant), proposal_id=proposal_id, corrections=corrections
            )
        )

    async def approved_mix(
        self, count: int, tenants: Sequence[str], *, distinct_documents: bool = False
    ) -> list[tuple[str, uuid.UUID]]:
        """`count` approved proposals, each with a stored document: a receipt, an invoice
        and an expense in turn, for `tenants` in turn; (tenant, proposal id) each. The
        tenant's documents are one file unless `distinct_documents`."""
        proposals: list[tuple[str, uuid.UUID]] = []
        for n in range(count):
            tenant = tenants[n % len(tenants)]
            sha = await self.store(PDF + str(n).encode() if distinct_documents else PDF, tenant)
            data = (
                receipt(sha, folio_event_id=f"ev-{n}", document_number=f"R-{n}"),
                invoice(sha, invoice_number=f"F-{n}"),
                expense(sha, document_number=f"K-{n}"),
            )[n % 3]
            proposals.append((tenant, await self.approved(data, tenant)))
        return proposals

    async def learn(
        self, merchant: str, account_code: str, vat_rate: Decimal, tenant: str = "acme"
    ) -> None:
        """A person-approved pattern for `merchant`: its documents that match it with high
        confidence are then approved by the review rules."""
        suggested = await self.handlers.submit(
            SubmitEvent(
                type="PatternSuggested",
                data=PatternSuggestionData(
                    merchant=merchant, account_code=account_code, vat_rate=vat_rate
                ),
                principal=agent(tenant),
            )
        )
        await self.approve(suggested.stream_id, tenant)

    async def reject(self, proposal_id: uuid.UUID, tenant: str = "acme") -> None:
        await self.handlers.reject(
            RejectProposal(principal=reviewer(tenant), proposal_id=proposal_id, reason="no")
        )

    async def approved(self, data: Any, tenant: str = "acme") -> uuid.UUID:
        proposal_id = await self.propose(data, tenant)
        await self.approve(proposal_id, tenant)
        return proposal_id

    async def view(self, proposal_id: uuid.UUID, tenant: str = "acme") -> Any:
        async with self.uow_factory() as uow:
            return await uow.proposals.get(tenant, proposal_id)

    async def stream(self, stream_id: uuid.UUID, tenant: str = "acme") -> list[Any]:
        async with self.uow_factory() as uow:
            return await uow.events.read_stream(tenant, stream_id)

    async def all_events(self) -> list[Any]:
        async with self.uow_factory() as uow:
            return await uow.events.read_all(limit=1_000_000)

    async def postings(self, tenant: str | None = None) -> list[JournalEntryPostedData]:
        return [
            e.data
            for e in await self.all_events()
            if isinstance(e.data, JournalEntryPostedData)
            and (tenant is None or e.tenant_id == tenant)
        ]


# --- payloads -----------------------------------------------------------------------------


def receipt(document_hash: str | None, **changes: Any) -> ReceiptAttachmentData:
    fields: dict[str, Any] = {
        "merchant_name": "Kaffebrenneriet",
        "amount": Decimal("125.00"),
        "date": dt.date(2026, 11, 18),
        "vat_rate": Decimal("15"),
        "account_code": "6810",
        "folio_event_id": "ev-1",
        "document_hash": document_hash,
    }
    fields.update(changes)
    return ReceiptAttachmentData(**fields)


def invoice(document_hash: str | None = None, **changes: Any) -> InvoiceRegistrationData:
    fields: dict[str, Any] = {
        "supplier": "Telenor Norge AS",
        "supplier_org_number": "976967631",
        "amount": Decimal("1250.00"),
        "date": dt.date(2026, 11, 1),
        "due_date": dt.date(2026, 11, 15),
        "vat_rate": Decimal("25"),
        "account_code": "6900",
        "invoice_number": "F-1001",
        "kid": "12345678903",
        "document_hash": document_hash,
    }
    fields.update(changes)
    return InvoiceRegistrationData(**fields)


def expense(document_hash: str | None = None, **changes: Any) -> ExpenseRegistrationData:
    fields: dict[str, Any] = {
        "employee": "Ola Nordmann",
        "merchant_name": "Ruter",
        "category": "travel",
        "amount": Decimal("448.00"),
        "date": dt.date(2026, 11, 12),
        "vat_rate": Decimal("12"),
        "account_code": "7140",
        "document_number": "K-77",
        "document_hash": document_hash,
    }
    fields.update(changes)
    return ExpenseRegistrationData(**fields)


def reversal(target: uuid.UUID) -> ReversalData:
    return ReversalData(target_proposal_id=str(target), reason="booked twice")


def correction(target: uuid.UUID, **changes: Any) -> CorrectionData:
    return CorrectionData(
        target_proposal_id=str(target), reason="wrong account", changes=Corrections(**changes)
    )
