"""Step 1, the claim: due approved proposals taken under a lease, with their streams and
the stored documents their actions send.

`Claimer.claim` gives each due APPROVED proposal (`claim_due`: no retry time in the future,
no running lease; locked against other claimers) a new attempt, appending
`…ExecutionStarted {attempt, executor, leaseUntil}` at its expected version; one another
executor claimed first (a version conflict) is left to it. The same unit of work reads the
streams, and the documents up to `prefetch_document_bytes`, each in one statement; a larger
document is read when it is sent (`claim_document`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from bookkeeper.application import messages as m
from bookkeeper.application.bank_claims import BankHold, held_event, read_bank_hold
from bookkeeper.application.errors import ConcurrencyConflict
from bookkeeper.application.event_log import following
from bookkeeper.application.execution.policy import (
    EXECUTOR_ACTOR,
    ExecutionPolicy,
    ExecutionRefused,
)
from bookkeeper.application.ports import (
    Clock,
    Ids,
    NewEvent,
    ProposalView,
    RecordedEvent,
    StoredDocument,
    UnitOfWork,
    UnitOfWorkFactory,
)
from bookkeeper.application.projections import fold_proposal
from bookkeeper.application.tax_rates import batch_tax_table
from bookkeeper.domain.errors import DomainError
from bookkeeper.domain.events import (
    CorrectionData,
    ExpenseRegistrationData,
    InvoiceRegistrationData,
    Kind,
    ProposalData,
    ReceiptAttachmentData,
    Status,
    Step,
    event_type,
)
from bookkeeper.domain.proposals import PendingEvent, Proposal
from bookkeeper.domain.rules import TaxTable
from bookkeeper.domain.vat_registration import is_purchase

log = logging.getLogger("bookkeeper.executor")


@dataclass(frozen=True)
class Claim:
    """One claimed attempt: what to execute, for whom, until when."""

    tenant_id: str
    proposal_id: uuid.UUID
    kind: Kind
    status: Status
    attempt: int
    lease_until: dt.datetime
    data: ProposalData
    correlation_id: uuid.UUID
    #: The proposal's stream as the claim left it (its last event is the ExecutionStarted).
    stream: tuple[RecordedEvent, ...] = field(default=(), repr=False, compare=False)
    #: The document the action sends, read with the claim (None: read it when needed).
    document: tuple[StoredDocument, bytes] | None = field(default=None, repr=False, compare=False)
    #: The tenant's tax rates, read with the claim (None: read them when needed), so an
    #: attempt opens no unit of work of its own for them (issue 14).
    rates: TaxTable | None = field(default=None, repr=False, compare=False)
    #: The holders of the bank event the action attaches to, read in the claim's
    #: transaction (ADR 0051 addendum, ADR 0043): the executor's re-check decides from them
    #: without a unit of work of its own. None: the action names no bank event (or the
    #: claim was made elsewhere), so the re-check reads them itself.
    bank_hold: BankHold | None = field(default=None, repr=False, compare=False)
    #: The attempts of the proposal's current budget counted against max_attempts, this
    #: one included (outages and attempts before a person's retry are not); None: `attempt`.
    counted: int | None = None
    #: When the current budget's first failure was recorded (None: no failure yet).
    failing_since: dt.datetime | None = None

    @property
    def counted_attempt(self) -> int:
        """This attempt's number in the budget counted against max_attempts."""
        return self.attempt if self.counted is None else self.counted

    #: Whether the tenant is VAT-registered now (its rules, read with the claim of a
    #: purchase or a correction: ADR 0056 addendum 6). None: not read, the act reads it.
    vat_registered: bool | None = field(default=None, repr=False, compare=False)


def asks_registration(data: ProposalData) -> bool:
    """Whether carrying out the action depends on the tenant's VAT registration: a
    purchase, or a correction (whose corrected purchase may book VAT)."""
    return is_purchase(data) or isinstance(data, CorrectionData)


def rehydrate(proposal_id: uuid.UUID, events: Sequence[RecordedEvent]) -> Proposal | None:
    """The proposal of a stream; None when the stream is not a proposal's."""
    if not events or event_type(events[0].type).step is not Step.PROPOSED:
        return None
    return Proposal.rehydrate(str(proposal_id), events)


async def append_pending(
    uow: UnitOfWork,
    tenant_id: str,
    existing: Sequence[RecordedEvent],
    pending: Sequence[PendingEvent],
    *,
    ids: Ids,
    at: dt.datetime,
) -> list[RecordedEvent]:
    """The aggregate's pending events appended after `existing` (at its version), each
    answering the one before; ConcurrencyConflict when the stream has moved on."""
    new = following(existing, pending, ids=ids, at=at)
    return await uow.events.append(tenant_id, existing[0].stream_id, len(existing), new)


def document_hash(data: ProposalData) -> str | None:
    """The stored document an action sends (a correction's is known only when it runs)."""
    if isinstance(data, ReceiptAttachmentData | InvoiceRegistrationData | ExpenseRegistrationData):
        return data.document_hash
    return None


async def claim_document(
    uow_factory: UnitOfWorkFactory, claim: Claim, sha256: str | None, *, required: bool
) -> tuple[StoredDocument | None, bytes | None]:
    """The stored document `sha256` of the claim's tenant: the one the claim read, or read
    now (in a read-only unit of work of its own)."""
    tenant = claim.tenant_id
    if sha256 is None:
        if required:
            raise ExecutionRefused(m.text("refusal.no_document", m.ENGLISH))
        return None, None
    found = claim.document
    if found is None or found[0].sha256 != sha256 or found[0].tenant_id != tenant:
        async with uow_factory() as uow:
            found = await uow.documents.read(tenant, sha256)
    if found is None:
        raise ExecutionRefused(m.text("refusal.document_not_stored", m.ENGLISH, sha256=sha256))
    return found


class Claimer:
    """Starts a new attempt of due proposals, under a lease, for the executor `name`."""

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        ids: Ids,
        policy: ExecutionPolicy,
        name: str,
    ) -> None:
        self._uow = uow_factory
        self._clock = clock
        self._ids = ids
        self._policy = policy
        self._name = name

    async def claim(
        self, now: dt.datetime, limit: int | None = None, exclude_tenants: Sequence[str] = ()
    ) -> list[Claim]:
        """Start a new attempt of every due proposal (up to `limit`, by default the batch
        size; none of `exclude_tenants`), in one unit of work; the ones another executor
        took first are left out."""
        claims: list[Claim] = []
        views: list[ProposalView] = []
        lease_until = now + self._policy.lease
        async with self._uow() as uow:
            batch = limit or self._policy.batch_size
            if exclude_tenants:
                due = await uow.proposals.claim_due(now, batch, exclude_tenants)
            else:
                due = await uow.proposals.claim_due(now, batch)
            if not due:
                return []
            streams = await uow.events.read_streams([(view.tenant_id, view.id) for view in due])
            # Issue 14: every due proposal's ExecutionStarted in one append_many; one it
            # refuses (another executor's claim came first) is left to that executor.
            started: list[tuple[ProposalView, list[RecordedEvent], Proposal, ProposalData]] = []
            starts: list[tuple[str, uuid.UUID, int, NewEvent]] = []
            at = self._clock.now()
            for view in due:
                events = streams.get(view.id, [])
                proposal = rehydrate(view.id, events)
                if proposal is None or proposal.status is not Status.APPROVED:
                    continue  # the projection was behind; only APPROVED is ever executed
                if proposal.kind is Kind.PATTERN_SUGGESTION:
                    # Applied on approval, never executed; an APPROVED one is an anomaly.
                    log.warning("pattern suggestion %s is APPROVED but not applied", view.id)
                    continue
                try:
                    data = proposal.effective_data
                except DomainError:  # corrections were checked on approval: corrupt data
                    log.exception("proposal %s cannot be executed as stored", view.id)
                    continue
                proposal.start_execution(
                    actor=EXECUTOR_ACTOR, executor=self._name, lease_until=lease_until
                )
                [new] = following(events, proposal.pending, ids=self._ids, at=at)
                starts.append((view.tenant_id, view.id, len(events), new))
                started.append((view, events, proposal, data))
            appended = await uow.events.append_many(starts) if starts else []
            tables: dict[str, TaxTable] = {}  # each tenant's rates, read once per claim
            for (view, events, proposal, data), recorded in zip(started, appended, strict=True):
                if recorded is None:
                    log.debug("proposal %s was claimed by another executor", view.id)
                    continue
                stream = [*events, recorded]
                folded = fold_proposal(stream)
                assert folded is not None
                views.append(folded)
                assert proposal.kind is not None and proposal.status is not None
                claims.append(
                    Claim(
                        tenant_id=view.tenant_id,
                        proposal_id=view.id,
                        kind=proposal.kind,
                        status=proposal.status,
                        attempt=proposal.attempts,
                        lease_until=lease_until,
                        data=data,
                        counted=proposal.counted_attempts,
                        failing_since=proposal.failing_since,
                        correlation_id=events[0].correlation_id,
                        stream=tuple(stream),
                        rates=await batch_tax_table(uow, view.tenant_id, tables),
                        vat_registered=(
                            (await uow.settings.review_rules(view.tenant_id)).vat_registered
                            if asks_registration(data)
                            else None
                        ),
                    )
                )
            if not claims:
                return []
            await uow.proposals.upsert_many(views)
            claims = await self._with_documents(uow, claims)
            claims = await self._with_bank_holds(uow, claims, views)
            try:
                await uow.commit()
            except ConcurrencyConflict:
                # Another executor committed a claim of one of these first (possible only
                # where claim_due cannot lock): leave this batch to it, and the rest to the
                # next pass.
                log.info("executor %s lost a claim race; retrying next pass", self._name)
                return []
        return claims

    async def _with_bank_holds(
        self, uow: UnitOfWork, claims: list[Claim], views: Sequence[ProposalView]
    ) -> list[Claim]:
        """The claims whose action attaches to a bank event (a receipt, a correction moving
        one) with that event's holders, read in the claim's transaction: one bounded
        statement each (ix_proposals_bank_event); the others read nothing."""
        held: list[Claim] = []
        for claim, view in zip(claims, views, strict=True):
            named = held_event(claim.proposal_id, claim.data)
            if named is None:
                held.append(claim)
                continue
            event_id, exclude = named
            hold = await read_bank_hold(
                uow, claim.tenant_id, event_id, exclude=exclude, mine=(view.proposed_at, view.id)
            )
            held.append(dataclasses.replace(claim, bank_hold=hold))
        return held

    async def _with_documents(self, uow: UnitOfWork, claims: list[Claim]) -> list[Claim]:
        """The claims with the documents their actions send, read in one statement (those
        up to `prefetch_document_bytes`; a larger one is read when it is sent)."""
        limit = self._policy.prefetch_document_bytes
        keys = {c.proposal_id: (c.tenant_id, h) for c in claims if (h := document_hash(c.data))}
        if not keys or limit <= 0:
            return claims
        found = await uow.documents.read_many(list(keys.values()), max_size=limit)
        return [
            dataclasses.replace(claim, document=found[key])
            if (key := keys.get(claim.proposal_id)) in found
            else claim
            for claim in claims
        ]
