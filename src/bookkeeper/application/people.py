"""What people are called where people read: Discord messages, the chat, the web page.

Events keep the exact principal (`human:kari`, `system:review-rules`): attribution is the
audit trail's and never changes. Where a person reads who did something, the actor is shown
by name instead:

    human:<subject> ──▶ the configured name (BOOKKEEPER_PEOPLE `kari=Kari Nordmann`)
                     ──▶ else a name learnt this process: the OIDC `name` /
                         `preferred_username` claim of the signed-in page user, the
                         Discord user's display name
                     ──▶ else the bare subject ("kari"), never "human:kari"
    book-e, system:review-rules, system:executor … ──▶ a word in the reader's language
    anything else ──▶ as it is

Learnt names are kept per tenant: a subject is a name within its tenant ("kari" of one
company is not "kari" of another), so what one tenant's user is called is never shown in
another's. In memory (bounded) and, with a NameStore (the SQL database's `people_names`,
migration 0025), in the database too: `sync()` — asked where a page, a chat message or a
Discord review is handled — writes what was learnt since and reads the names the others
learnt, at most every REFRESH_SECONDS, so a restarted process or another replica shows the
name as well, not the login. A name is one printable line of at most MAX_NAME characters;
anything else is not learnt.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Final, Protocol

from bookkeeper.application import messages as m
from bookkeeper.application.errors import StorageUnavailable

log = logging.getLogger("bookkeeper.people")

HUMAN: Final = "human:"
#: The longest name shown.
MAX_NAME: Final = 100
#: Learnt names kept (least recently learnt forgotten first).
MAX_LEARNT: Final = 10_000
#: How often a process reads the names the others learnt (seconds).
REFRESH_SECONDS: Final = 60.0


class NameStore(Protocol):
    """Where learnt names outlive the process: one row per (tenant, subject)."""

    async def save(self, tenant: str, subject: str, name: str, at: dt.datetime) -> None:
        """Keep `name` for (tenant, subject), replacing the one kept before."""
        ...

    async def recent(self, limit: int) -> list[tuple[str, str, str]]:
        """(tenant, subject, name) of the `limit` names learnt last, the latest first."""
        ...


#: Service actors with a word of their own in the catalogue (messages.TEXTS "actor.<id>").
_SERVICES: Final = frozenset(
    {"book-e", "review-e", "system:review-rules", "system:executor", "system:cron"}
)


def clean_name(name: object) -> str | None:
    """`name` as one printable line of at most MAX_NAME characters, or None."""
    if not isinstance(name, str):
        return None
    text = " ".join(name.split())
    if not text or not text.isprintable():
        return None
    return text if len(text) <= MAX_NAME else text[: MAX_NAME - 1] + "…"


def parse_people(entries: Iterable[str]) -> dict[str, str]:
    """`subject=Name` entries (BOOKKEEPER_PEOPLE) as subject ─▶ name; ValueError if one
    is not such an entry."""
    names: dict[str, str] = {}
    for entry in entries:
        subject, sep, raw = entry.partition("=")
        subject = subject.strip().removeprefix(HUMAN)
        name = clean_name(raw)
        if not sep or not subject or name is None:
            raise ValueError(f"not a subject=Name entry: {entry!r}")
        names[subject] = name
    return names


class People:
    """Names of people by principal subject: configured ones first (the operator's, for
    every tenant), then those learnt in the reader's tenant."""

    def __init__(
        self,
        configured: Mapping[str, str] | None = None,
        *,
        store: NameStore | None = None,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._configured = dict(configured or {})
        self._learnt: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._store = store
        self._now = now
        #: Learnt here, not yet written to the store (written by `sync`).
        self._unsaved: dict[tuple[str, str], tuple[str, dt.datetime]] = {}
        self._read_at: float | None = None
        self._syncing = asyncio.Lock()

    def learn(self, tenant: str, subject: str, name: object) -> None:
        """Remember what `subject` of `tenant` is called (a claim, a Discord display name);
        a name that is not a printable line, or is the subject itself, is ignored."""
        cleaned = clean_name(name)
        key = (tenant, subject.removeprefix(HUMAN))
        if cleaned is None or not key[1] or cleaned == key[1]:
            return
        if self._learnt.get(key) == cleaned:
            return
        self._keep(key, cleaned)
        if self._store is not None:
            self._unsaved.pop(key, None)
            self._unsaved[key] = (cleaned, self._now())
            while len(self._unsaved) > MAX_LEARNT:  # a store down for long: the newest kept
                del self._unsaved[next(iter(self._unsaved))]

    def _keep(self, key: tuple[str, str], name: str) -> None:
        self._learnt[key] = name
        self._learnt.move_to_end(key)
        while len(self._learnt) > MAX_LEARNT:
            self._learnt.popitem(last=False)

    async def sync(self) -> None:
        """Write the names learnt here since the last call, and read the ones learnt by
        other processes (at most every REFRESH_SECONDS). A store that fails is logged and
        tried again at the next call: a name is never worth a failed page."""
        if self._store is None:
            return
        if not self._unsaved and not self._due():
            return
        async with self._syncing:
            try:
                while self._unsaved:
                    key, (name, at) = next(iter(self._unsaved.items()))
                    await self._store.save(key[0], key[1], name, at)
                    if self._unsaved.get(key) == (name, at):
                        del self._unsaved[key]
                if self._due():
                    rows = await self._store.recent(MAX_LEARNT)
                    self._read_at = time.monotonic()
                    for tenant, subject, name in reversed(rows):  # the latest kept last
                        if (tenant, subject) not in self._unsaved:
                            self._keep((tenant, subject), name)
            except StorageUnavailable as error:
                log.warning("learnt names not kept or read: %s", error.message)

    def _due(self) -> bool:
        return self._read_at is None or time.monotonic() - self._read_at >= REFRESH_SECONDS

    def keep_in(self, store: NameStore | None) -> None:
        """Keep learnt names in `store` from now on (the container's, once the database is
        open); None: in memory only."""
        self._store = store
        self._read_at = None

    def forget_refresh(self) -> None:
        """Read the store again at the next `sync` (tests; a process that knows it is
        behind)."""
        self._read_at = None

    def name(
        self, actor: str | None, language: m.Language = m.NORWEGIAN, *, tenant: str | None
    ) -> str:
        """What a reader of `tenant` is shown for `actor` (a principal or an actor of one
        of the tenant's events); no tenant (nobody signed in): no learnt name."""
        if not actor:
            return "?"
        if actor in _SERVICES:
            return m.text(f"actor.{actor}", language)
        if not actor.startswith(HUMAN):
            return actor
        subject = actor.removeprefix(HUMAN)
        learnt = self._learnt.get((tenant, subject)) if tenant is not None else None
        return self._configured.get(subject) or learnt or subject
