"""The anti-corruption layer (decision 7): external business events become journal entries.

Other services publish business events (InvoiceIssued, PaymentReceived, …), never
accounting entries. A `Translator` — from a plugin, discovered through the entry-point
group `book_keeper.translators` (no translator lives in this package) — validates one
kind of event against its schema and turns it into a `RecordJournalEntry` whose entry id
is derived from the event's business key (`event_log.external_entry_id`), so that the
append at version 0 makes a redelivery a harmless duplicate (decision 15).

`Ingest` is what every bus adapter calls with the raw bytes of a message: it reads the
envelope, routes by type, validates, translates and hands the command to
`LedgerService.record` under the bus's service principal — the same command, RBAC and
ABAC as REST. What can never succeed raises a `Rejected` (dead letter, an alert); a
`StorageUnavailable` (or anything unexpected) is transient (redelivered, bounded).

The envelope (JSON, one message):

    {"type": "InvoiceIssued", "source": "invoicing", "tenant": "acme",
     "id": "optional message id", "data": {...the event, per the translator's schema...}}
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from importlib.metadata import entry_points
from typing import Any, Final, Protocol, runtime_checkable

import msgspec

from bookkeeper.application.commands import RecordJournalEntry
from bookkeeper.application.errors import (
    ApplicationError,
    Forbidden,
    IdempotencyConflict,
)
from bookkeeper.application.event_log import external_entry_id
from bookkeeper.application.json_keys import duplicate_key
from bookkeeper.application.ledger import LedgerService, PostedEntry
from bookkeeper.application.ports import Principal
from bookkeeper.domain.errors import DomainError
from bookkeeper.domain.numerals import SPELLING, misspelt_decimal
from bookkeeper.domain.rules import NOK
from bookkeeper.domain.tenants import TENANT_RULE, is_tenant_id

log = logging.getLogger("bookkeeper.translation")

#: The entry-point group plugins advertise their Translator classes in.
ENTRY_POINT_GROUP: Final = "book_keeper.translators"
#: The service principal the bus books as (its policy: the `system` role's grants, and
#: BOOKKEEPER_BUS_APPROVAL_LIMIT as its approval limit).
BUS_SUBJECT: Final = "system:bus"
MAX_NAME: Final = 100
#: How deep arrays and objects may nest in a message, as in a request body (ADR 0021):
#: the decoders recurse once per level, and one nested thousands deep raises a
#: RecursionError, not a DecodeError, which no caller would take for a malformed message.
MAX_DEPTH: Final = 32
_BRACKETS: Final = bytes.maketrans(b"{}", b"[]")
#: A JSON string, or what is left of the body after a quote that is never closed: every
#: match that starts succeeds, so the search is linear. A pattern that required the
#: closing quote failed, from every quote of an unclosed run of `\"`, only at the end of
#: the body — quadratic: 48 KB of them held the event loop (the bus, the API) for a
#: minute, the 1 MB NATS lets through for hours.
_STRING: Final = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKETS: Final = bytes(b for b in range(256) if b not in b"[]{}")
#: Why a message whose figures overflow the translator's arithmetic is refused. Decoding
#: and translating are pure functions of the message, so a decimal.InvalidOperation (or
#: any ArithmeticError) there fails the same way on every delivery: a Rejected, never a
#: transient failure redelivered until it runs out with no reason a person can read.
_OUT_OF_RANGE: Final = "a figure is too large to reckon with (more digits than a decimal holds)"
#: Seconds a translator may take over one message. Translators are plugin code, called
#: in a thread of their own: one that hangs (a loop that never ends, a lock never
#: released, a call to a service that never answers) stopped the event loop — the bus,
#: the HTTP API, /health and the bus-publisher — until it returned. Past this limit its
#: message is refused (`TranslationTimedOut`) and the thread is left behind.
TRANSLATION_TIME_LIMIT = 10.0
#: A bus message larger than this is read (its tenant, its type, an Accounts Master's
#: envelope) in a worker thread, not on the event loop; smaller ones in place (a thread's
#: hand-off would cost an ordinary batch more than reading it).
OFF_LOOP_BYTES: Final = 64 * 1024


def nests_deeper_than(body: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether arrays and objects in the JSON `body` nest more than `limit` deep. Strings
    are removed first (a "[" inside one is text); what remains are brackets, and each round
    removes the innermost pairs, so `limit` rounds at C speed settle it."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    rest = _STRING.sub(b"", body).translate(_BRACKETS, _NOT_BRACKETS)
    for _ in range(limit):
        shorter = rest.replace(b"[]", b"")
        if not shorter or shorter == rest:
            return False
        rest = shorter
    return rest.replace(b"[]", b"") != rest


class ExternalMessage(msgspec.Struct, frozen=True, kw_only=True):
    """An external event as a translator sees it: `data` already validated against the
    translator's schema (an instance of it)."""

    type: str
    source: str
    tenant: str
    data: Any
    id: str | None = None

    def entry_id(self, key: str) -> Any:
        """The deterministic journal id of this event, from its business key."""
        return external_entry_id(self.tenant, self.source, self.type, key)


class Envelope(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The wire shape of an incoming message (see the module docstring)."""

    type: str
    source: str
    tenant: str
    data: msgspec.Raw
    id: str | None = None


@runtime_checkable
class Translator(Protocol):
    """Turns one kind of external event into a journal entry (decision 7)."""

    #: The external event types it translates (e.g. {"InvoiceIssued"}).
    types: frozenset[str]
    #: The subject (relative to the inbound prefix) its events arrive on, e.g.
    #: "invoicing.InvoiceIssued"; the consumer listens on every translator's subject.
    subject: str
    #: The msgspec Struct (or type) its `data` must convert to; documented by the plugin.
    schema: type[Any]

    def translate(self, message: ExternalMessage) -> RecordJournalEntry:
        """The entry this event books, with `entry_id = message.entry_id(business key)`."""
        ...


class Rejected(ApplicationError):
    """A message that can never succeed: dead-lettered with this reason, never retried."""

    code = "message-rejected"


class MalformedMessage(Rejected):
    """Not an envelope, or its data does not match the translator's schema."""

    code = "malformed-message"


class UnknownExternalType(Rejected):
    """No installed translator handles this event type."""

    code = "unknown-event-type"


class NotBookable(Rejected):
    """The translated entry is refused for good (unbalanced, over the limit, conflicting)."""

    code = "not-bookable"


class TranslationTimedOut(Rejected):
    """The translator took longer than TRANSLATION_TIME_LIMIT over the message. Refused
    at once rather than retried: translating is a function of the message alone, so it
    would hang again on every delivery, each time holding one more thread."""

    code = "translation-timeout"


class Translators:
    """The installed translators, by event type (the dispatcher routes by type)."""

    def __init__(self, translators: Iterable[Translator] = ()) -> None:
        self._by_type: dict[str, Translator] = {}
        for translator in translators:
            self.register(translator)

    def register(self, translator: Translator) -> None:
        for name in translator.types:
            if name in self._by_type:
                raise ValueError(f"two translators for {name!r}")
            self._by_type[name] = translator

    def get(self, type_name: str) -> Translator | None:
        return self._by_type.get(type_name)

    @property
    def types(self) -> frozenset[str]:
        return frozenset(self._by_type)

    @property
    def subjects(self) -> tuple[str, ...]:
        """Every translator's subject, once each, in a stable order."""
        return tuple(sorted({t.subject for t in self._by_type.values()}))


def discover(group: str = ENTRY_POINT_GROUP) -> list[Translator]:
    """Load every Translator advertised in the entry-point group (a class or a factory
    called without arguments). A plugin that fails to load is logged and left out."""
    found: list[Translator] = []
    for point in sorted(entry_points(group=group), key=lambda p: p.name):
        try:
            loaded = point.load()
            translator = loaded() if callable(loaded) else loaded
        except Exception:
            log.exception("translator plugin %s (%s) failed to load", point.name, point.value)
            continue
        if not isinstance(translator, Translator):
            log.error("entry point %s is not a Translator; ignored", point.name)
            continue
        log.info("translator %s: %s", point.name, ", ".join(sorted(translator.types)))
        found.append(translator)
    return found


def discovered_translators() -> Translators:
    """The container's translators: every installed plugin's."""
    return Translators(discover())


_envelope = msgspec.json.Decoder(Envelope)
#: A control character (below U+0020), which no envelope name may hold.
_CONTROL: Final = re.compile(r"[\x00-\x1f]")

#: The tenant the bus files alerts under when a message names no tenant it can book for
#: (`bus.UNKNOWN_TENANT`): the operator's, never booked into.
BUS_TENANT: Final = "_bus"

PrincipalFor = Callable[[str], Principal]
#: A message translated: its envelope, its command, and its currency when not NOK.
Translated = tuple[Envelope, RecordJournalEntry, str | None]


class _Translating:
    """Messages translated one after another in a daemon thread of their own, watched
    from the event loop (`finished`): one whose translation hangs is given up, never
    waited for (a thread cannot be stopped; it is left to end or not)."""

    def __init__(self, translate: Callable[[bytes], Translated], raws: Sequence[bytes]) -> None:
        self._translate = translate
        self._raws = raws
        self._loop = asyncio.get_running_loop()
        self._done = asyncio.Event()
        #: Each message's translation, or the exception it raised, in order.
        self.results: list[Translated | Exception] = []
        #: (the index of the message being translated, since when: time.monotonic()).
        self._current = (0, time.monotonic())
        #: Set once the loop gave up on this thread: should its translator return after
        #: all, it stops there (the rest are translated by the next thread).
        self._given_up = False
        # In a copy of the caller's context (a request's id for the log, the decimal
        # context), as on the loop.
        context = contextvars.copy_context()
        threading.Thread(
            target=context.run, args=(self._run,), name="bookkeeper-translate", daemon=True
        ).start()

    def _run(self) -> None:
        for index, raw in enumerate(self._raws):
            if self._given_up:
                return
            self._current = (index, time.monotonic())
            try:
                result: Translated | Exception = self._translate(raw)
            except Exception as error:
                result = error
            self.results.append(result)
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            self._loop.call_soon_threadsafe(self._done.set)

    async def finished(self, limit: float) -> int | None:
        """None once every message is translated; the index of the first one whose
        translation took more than `limit` seconds otherwise."""
        while not self._done.is_set():
            index, since = self._current
            remaining = since + limit - time.monotonic()
            if remaining <= 0:
                if len(self.results) <= index:
                    self._given_up = True
                    return index
                await asyncio.sleep(0.001)  # it has just finished that one
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._done.wait(), remaining)
        return None


def names_a_tenant(value: str) -> bool:
    """Whether a message's tenant is one the bus may book for and file alerts under: a
    tenant id (domain.tenants, as a token's or the CLI's) other than the operator's
    BUS_TENANT."""
    return is_tenant_id(value) and value != BUS_TENANT


def fingerprint(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def bus_principal(approval_limit: str | None = None) -> PrincipalFor:
    """The bus's service principal for a tenant, bounded by its own approval limit."""
    attributes = {} if approval_limit is None else {"approval_limit": approval_limit}

    def principal_for(tenant: str) -> Principal:
        return Principal(
            subject=BUS_SUBJECT,
            tenant_id=tenant,
            roles=frozenset({"system"}),
            attributes=attributes,
        )

    return principal_for


def read_envelope(raw: bytes) -> Envelope:
    """The envelope of a message, or MalformedMessage."""
    if nests_deeper_than(raw):
        raise MalformedMessage(
            f"not a message envelope: arrays and objects nest more than {MAX_DEPTH} levels deep"
        )
    try:
        envelope = _envelope.decode(raw)
    except (msgspec.DecodeError, RecursionError) as error:
        raise MalformedMessage(f"not a message envelope: {error}") from None
    repeated = duplicate_key(raw)
    if repeated is not None:  # readers disagree on which of the two counts (ADR 0049)
        raise MalformedMessage(f"{repeated} appears more than once in its object")
    for name in ("type", "source"):
        value = getattr(envelope, name)
        if not value or len(value) > MAX_NAME or _CONTROL.search(value):
            raise MalformedMessage(f"the envelope's {name} is empty, too long or not text")
    if not names_a_tenant(envelope.tenant):
        raise MalformedMessage(
            f"the envelope's tenant {envelope.tenant!r} is no tenant the bus books for "
            f"({TENANT_RULE}, not the operator's {BUS_TENANT})"
        )
    return envelope


class Ingest:
    """Books one external message through its translator (every bus adapter calls it)."""

    def __init__(self, translators: Translators, ledger: LedgerService) -> None:
        self._translators = translators
        self._ledger = ledger

    @property
    def translators(self) -> Translators:
        return self._translators

    def translate(self, raw: bytes) -> tuple[Envelope, RecordJournalEntry]:
        """The envelope and the command of a message, or a Rejected."""
        envelope, command, _ = self._translate(raw)
        return envelope, command

    def _translate(self, raw: bytes) -> Translated:
        """`translate`, and the message's currency when its data names one other than
        NOK (`currency`): which codes exist is data (the currencies table), asked by
        `_check_currencies` before anything is booked."""
        envelope = read_envelope(raw)
        translator = self._translators.get(envelope.type)
        if translator is None:
            raise UnknownExternalType(f"no translator is installed for {envelope.type!r}")
        try:
            data = msgspec.json.decode(envelope.data, type=translator.schema)
        except (msgspec.DecodeError, msgspec.ValidationError) as error:
            raise MalformedMessage(f"{envelope.type}: {error}") from None
        except ArithmeticError:  # a schema's own checks (__post_init__) reckon with it
            raise MalformedMessage(f"{envelope.type}: {_OUT_OF_RANGE}") from None
        misspelt = misspelt_decimal(data, bytes(envelope.data), "data")
        if misspelt is not None:  # " 1", "1e3", "1_000": no publisher of ours writes them
            raise MalformedMessage(f"{envelope.type}: {misspelt} {SPELLING}")
        message = ExternalMessage(
            type=envelope.type,
            source=envelope.source,
            tenant=envelope.tenant,
            data=data,
            id=envelope.id,
        )
        try:
            command = translator.translate(message)
        except (ValueError, DomainError) as error:
            raise NotBookable(f"{envelope.type}: {error}") from None
        except ArithmeticError:
            raise NotBookable(f"{envelope.type}: {_OUT_OF_RANGE}") from None
        currency = getattr(data, "currency", None)
        foreign = currency if isinstance(currency, str) and currency != NOK else None
        return envelope, command, foreign

    async def _translate_all(self, raws: Sequence[bytes]) -> list[Translated | Exception]:
        """`_translate` of each message, off the event loop (a thread, `_Translating`):
        per message its translation or the exception it raised; TranslationTimedOut for
        one whose translator took longer than TRANSLATION_TIME_LIMIT, after which the
        rest are translated in a new thread."""
        results: list[Translated | Exception] = []
        while len(results) < len(raws):
            run = _Translating(self._translate, raws[len(results) :])
            hung = await run.finished(TRANSLATION_TIME_LIMIT)
            if hung is None:
                results.extend(run.results)
                continue
            results.extend(run.results[:hung])
            raw = raws[len(results)]
            try:
                type_name = read_envelope(raw).type
            except Rejected:  # not expected: the translator was reached after it
                type_name = "the message"
            log.error(
                "the translator of %s took more than %gs over one message (SHA-256 %s); "
                "refused, its thread left running",
                type_name,
                TRANSLATION_TIME_LIMIT,
                fingerprint(raw),
            )
            results.append(
                TranslationTimedOut(
                    f"{type_name}: its translator did not finish within "
                    f"{TRANSLATION_TIME_LIMIT:g} s"
                )
            )
        return results

    async def _unknown_currencies(self, codes: Iterable[str]) -> frozenset[str]:
        """Of `codes`, those the currencies table (ISO 4217) lacks: 'ABC' has the shape
        a schema checks and is no currency, as a proposal's is refused (handlers)."""
        wanted = set(codes)
        return await self._ledger.unknown_currencies(wanted) if wanted else frozenset()

    async def book_many(
        self, raws: Sequence[bytes], principal_for: PrincipalFor
    ) -> list[PostedEntry | Exception]:
        """`book` of many messages with one commit (LedgerService.record_many): per message
        its PostedEntry or its Rejected. StorageUnavailable propagates (none booked)."""
        results: list[PostedEntry | Exception | None] = [None] * len(raws)
        translated: list[tuple[int, Envelope, RecordJournalEntry, str | None]] = []
        for index, outcome in enumerate(await self._translate_all(raws)):
            if isinstance(outcome, Rejected):
                results[index] = outcome
            elif isinstance(outcome, Exception):
                raise outcome  # unexpected: the intake books the batch one by one
            else:
                translated.append((index, *outcome))
        unknown = await self._unknown_currencies(c for *_, c in translated if c is not None)
        items: list[tuple[Principal, RecordJournalEntry]] = []
        where: list[tuple[int, str]] = []
        for index, envelope, command, currency in translated:
            if currency in unknown:
                results[index] = _unknown_currency(envelope, currency)
                continue
            items.append((principal_for(envelope.tenant), command))
            where.append((index, envelope.type))
        recorded = await self._ledger.record_many(items) if items else []
        for (index, type_name), result in zip(where, recorded, strict=True):
            if isinstance(result, DomainError | Forbidden | IdempotencyConflict):
                results[index] = NotBookable(f"{type_name}: {result}")
            else:
                results[index] = result
        return [r if r is not None else RuntimeError("not booked") for r in results]

    async def book(self, raw: bytes, principal_for: PrincipalFor) -> PostedEntry:
        """Translate and record the message (`replayed` when it was booked before).
        Rejected for what can never succeed; anything else is transient."""
        [outcome] = await self._translate_all([raw])
        if isinstance(outcome, Exception):
            raise outcome
        envelope, command, currency = outcome
        if currency is not None and currency in await self._unknown_currencies([currency]):
            raise _unknown_currency(envelope, currency)
        try:
            return await self._ledger.record(principal_for(envelope.tenant), command)
        except (DomainError, Forbidden, IdempotencyConflict) as error:
            raise NotBookable(f"{envelope.type}: {error}") from None


def _unknown_currency(envelope: Envelope, currency: str) -> MalformedMessage:
    return MalformedMessage(
        f"{envelope.type}: currency {currency!r} is not an ISO 4217 currency "
        "(GET /rules/currencies)"
    )
