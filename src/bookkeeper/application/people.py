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

Learnt names live in memory (bounded), per tenant: a subject is a name within its tenant
("kari" of one company is not "kari" of another), so what one tenant's user is called is
never shown in another's. A process that never saw the person shows the configured name or
the bare subject. A name is one printable line of at most MAX_NAME characters; anything
else is not learnt.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Final

from bookkeeper.application import messages as m

HUMAN: Final = "human:"
#: The longest name shown.
MAX_NAME: Final = 100
#: Learnt names kept (least recently learnt forgotten first).
MAX_LEARNT: Final = 10_000
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

    def __init__(self, configured: Mapping[str, str] | None = None) -> None:
        self._configured = dict(configured or {})
        self._learnt: OrderedDict[tuple[str, str], str] = OrderedDict()

    def learn(self, tenant: str, subject: str, name: object) -> None:
        """Remember what `subject` of `tenant` is called (a claim, a Discord display name);
        a name that is not a printable line, or is the subject itself, is ignored."""
        cleaned = clean_name(name)
        key = (tenant, subject.removeprefix(HUMAN))
        if cleaned is None or not key[1] or cleaned == key[1]:
            return
        if self._learnt.get(key) == cleaned:
            return
        self._learnt[key] = cleaned
        self._learnt.move_to_end(key)
        while len(self._learnt) > MAX_LEARNT:
            self._learnt.popitem(last=False)

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
