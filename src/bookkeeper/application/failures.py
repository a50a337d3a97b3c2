"""Why an approved proposal could not be carried out, said for people (chat, Discord).

The executor records each failed attempt's error in the event (ExecutionFailed, Failed) as
`safe_error` wrote it: `<system>[ <status>]: <message>` for a books or bank error (Fiken's
own answer inside, cut and with credentials blanked), the message of our own refusals, or
`<ExceptionType>: …` for a defect. That text is the audit trail's and stays there. People
are told what it means, classified the way the adapters classified it (application.errors):

    timeout, connection, 5xx, 429  ──▶ "Fiken svarte ikke — prøver igjen kl. 14:05"
    401 / 403                      ──▶ Fiken refused our access (the key or the API module)
    404                            ──▶ Fiken could not find what it refers to
    other 4xx                      ──▶ "Fiken refused the purchase: the account 6540 does
                                        not exist in Fiken" (an account named in Fiken's
                                        answer), else "Fiken refused the purchase (400)"
    our own refusal                ──▶ its sentence: the catalogue's "refusal.*" text it is
                                        (messages.refusal_form), else a reason form
                                        (messages.sentence), else, in Norwegian, a general
                                        sentence (never English to a Norwegian reader)
    a defect (ExceptionType: …)    ──▶ "an error on our side"

`explain_error` says an error as it is raised (a decision refused in Discord or on the web
page): the same, and for a message no form knows, the words of its error code.

Never the raw answer, a token or a stack: only the status code, an account number and
words of our own.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Final
from zoneinfo import ZoneInfo

from bookkeeper.application import messages as m
from bookkeeper.application.errors import ExternalError
from bookkeeper.application.execution.policy import safe_error
from bookkeeper.domain.errors import BookkeeperError

OSLO: Final = ZoneInfo("Europe/Oslo")
#: Our own refusals longer than this are cut (they are sentences, not answers).
MAX_OWN: Final = 200

#: `safe_error` of an ExternalError: "<system>[ <status>]: <message>".
_EXTERNAL: Final = re.compile(
    r"(?P<system>[a-z][a-z0-9-]*)(?: (?P<status>\d{3}))?: (?P<m>.*)", re.S
)
#: `safe_error` of anything that is not ours: "<ExceptionType>: …" (a defect).
_DEFECT: Final = re.compile(r"[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt)(?::|$)")
_UNAVAILABLE: Final = re.compile(
    r"timed out|timeout|failed: \w+|rate limited|answered 5\d\d|without a Location"
)
#: An account number in a refusal, with a word saying it is not there or not valid.
_ACCOUNT: Final = re.compile(r"(?i)\b(?:account|konto)\w*\D{0,25}?\b(\d{4,5})\b")
_NOT_THERE: Final = re.compile(
    r"(?i)not (?:found|exist|valid|allowed)|does ?n[o']t exist|unknown|invalid|"
    r"finnes ikke|ugyldig|ukjent|eksisterer ikke"
)
_SYSTEMS: Final[dict[str, dict[m.Language, str]]] = {
    "fiken": {"nb": "Fiken", "en": "Fiken"},
    "folio": {"nb": "Folio", "en": "Folio"},
    "sandbox-books": {"nb": "Sandkasse-regnskapet", "en": "The sandbox books"},
    "sandbox-bank": {"nb": "Sandkasse-banken", "en": "The sandbox bank"},
    "database": {"nb": "Databasen", "en": "The database"},
}


def system_name(system: str, language: m.Language) -> str:
    """A backend's name as people write it ("Fiken"), or the name as it is."""
    known = _SYSTEMS.get(system)
    return known[language] if known is not None else system


def explain_failure(
    error: str | None,
    language: m.Language,
    *,
    kind: str = "",
    retry_at: dt.datetime | None = None,
) -> str:
    """What a failed attempt's recorded `error` means, in `language` (see the module
    docstring); `kind`: the proposal's kind (what was refused); `retry_at`: when the next
    attempt is due, if one is."""
    text = (error or "").strip()
    key = f"failure.what.{kind}"
    what = m.text(key if key in m.TEXTS else "failure.what.other", language)
    found = _EXTERNAL.fullmatch(text)
    if found is not None and (
        found["system"] in _SYSTEMS or found["status"] or _UNAVAILABLE.search(found["m"])
    ):
        system = system_name(found["system"], language)
        status = int(found["status"]) if found["status"] else None
        message = found["m"]
        # No status: a timeout, a lost connection, an answer we could not read. With one,
        # the status decides (Fiken's own words may well say "failed:").
        if status is None or status >= 500 or status == 429:
            if retry_at is not None:
                at = retry_at.astimezone(OSLO).strftime("%H:%M")
                return m.text("failure.unavailable.retry", language, system=system, at=at)
            return m.text("failure.unavailable", language, system=system)
        if status in (401, 403):
            return m.text("failure.auth", language, system=system)
        if status == 404:
            return m.text("failure.not_found", language, system=system, what=what)
        account = _ACCOUNT.search(message)
        if account is not None and _NOT_THERE.search(message):
            return m.text("failure.account", language, system=system, what=what, account=account[1])
        return m.text("failure.refused", language, system=system, what=what, status=status)
    if not text or _DEFECT.match(text):
        return m.text("failure.ours", language)
    own = _own(text, language)
    if own is None:
        own = text if language == m.ENGLISH else m.text("refusal.other", language, what=what)
    return _cut(own)


def explain_error(error: BaseException, language: m.Language, *, kind: str = "") -> str:
    """What an error raised while deciding or carrying out a proposal means, in `language`:
    as `explain_failure` says it once recorded; our own error in words no form knows is said
    by its code (`refusal.code.<code>`), an error not ours as a defect. Ours: a
    BookkeeperError, or an adapter's own error with a `code` and a `message` (the Discord
    attachment fetcher's)."""
    code, message = getattr(error, "code", None), getattr(error, "message", None)
    ours = isinstance(error, BookkeeperError) or (
        isinstance(code, str) and isinstance(message, str)
    )
    if isinstance(error, ExternalError) or not ours:
        return explain_failure(safe_error(error), language, kind=kind)
    text = safe_error(error) if isinstance(error, BookkeeperError) else str(message)
    own = _own(text, language)
    if own is not None:
        return _cut(own)
    key = f"refusal.code.{code}"
    if key in m.TEXTS:
        return m.text(key, language)
    return explain_failure(safe_error(error), language, kind=kind)


def _own(text: str, language: m.Language) -> str | None:
    """A refusal of ours said in `language`, when the catalogue knows its words (in
    English: as it was written, the catalogue's words already)."""
    if language == m.ENGLISH:
        return text
    form = m.refusal_form(text)
    if form is not None:
        key, values = form
        return m.text(key, language, **{k: _value(k, v, language) for k, v in values.items()})
    said = m.sentence(text, language)
    return said if said != text else None


def _value(name: str, value: str, language: m.Language) -> str:
    """A refusal's placeholder said in `language`: a status, a system, a date, a verb, a
    kind, a nested error; anything else (an id, a number, a reference) as it is."""
    if name == "status":
        return m.status_word(value, language)
    if name == "system":
        return system_name(value, language)
    if name == "error":
        return explain_failure(value, language)
    if name == "kind":
        return m.kind_word(value, language).lower()
    if name == "action":
        key = f"refusal.action.{value}"
        return m.text(key, language) if key in m.TEXTS else value
    if name in ("date", "start", "end"):
        try:
            return m.date_text(dt.date.fromisoformat(value))
        except ValueError:
            return value
    return value


def _cut(text: str) -> str:
    return text if len(text) <= MAX_OWN else text[: MAX_OWN - 1] + "…"
