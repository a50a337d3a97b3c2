"""The page's words in Norwegian (bokmål, the default) and English, and how it picks one.

The words themselves are keys of the one catalogue, application/messages.TEXTS ("web.<name>",
and the proposal kinds the conversation names too): `TEXTS` here is a read-only view of them
under the page's names, so the page, the chat and Discord are translated in one place.

The language is the `bk_lang` cookie when the user chose one with the toggle (`?lang=`),
else the best match of `Accept-Language` (nb, nn and no read as Norwegian), else Norwegian.
Amounts and dates are formatted with Babel in the page's locale ("1 234,50" / "1,234.50");
dates shown to people are Europe/Oslo.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Final
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal, format_percent
from litestar import Request

from bookkeeper.application import messages as m
from bookkeeper.domain.events import CATALOGUE

Lang = m.Language
LANGS: Final[tuple[Lang, ...]] = ("nb", "en")
LANG_COOKIE: Final = "bk_lang"
OSLO: Final = ZoneInfo("Europe/Oslo")
_ALIASES: Final[dict[str, Lang]] = {"nb": "nb", "nn": "nb", "no": "nb", "en": "en"}


def choose(request: Request[Any, Any, Any]) -> Lang:
    """The language of this request (see the module docstring)."""
    chosen = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    if chosen == "en":
        return "en"
    if chosen == "nb":
        return "nb"
    ranked: list[tuple[float, int, Lang]] = []
    header = request.headers.get("accept-language", "")
    for index, part in enumerate(header.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        lang = _ALIASES.get(tag.strip().lower().split("-")[0])
        if lang is not None and quality > 0:
            ranked.append((-quality, index, lang))
    return min(ranked)[2] if ranked else "nb"


def money(value: Decimal | str | None, lang: Lang) -> str:
    """An amount with two decimals in the page's locale ("" for none)."""
    if value is None or value == "":
        return ""
    return format_decimal(Decimal(value), format="#,##0.00", locale=lang)


def percent(value: Decimal | None, lang: Lang) -> str:
    """A share in percent with one decimal in the page's locale ("95,5 %" / "95.5%")."""
    if value is None:
        return ""
    return format_percent(value / 100, format="#,##0.0 %", locale=lang)


def day(value: dt.date | str | None, lang: Lang) -> str:
    """A day as people read it: "20.11.2026" in Norwegian, ISO 8601 in English ("" for none)."""
    if value is None or value == "":
        return ""
    date = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
    return date.strftime("%d.%m.%Y") if lang == "nb" else date.isoformat()


def score(value: Decimal | float | None, lang: Lang) -> str:
    """A confidence score with two decimals in the page's locale ("0,95" / "0.95")."""
    if value is None:
        return ""
    return format_decimal(Decimal(str(value)), format="0.00", locale=lang)


#: The fields of a proposal that hold an amount, a day or a rate (shown as people read them).
AMOUNT_FIELDS: Final = frozenset({"amount", "vatAmount"})
DAY_FIELDS: Final = frozenset({"date", "dueDate"})
RATE_FIELDS: Final = frozenset({"vatRate"})


def field_value(key: str, value: object, lang: Lang) -> str:
    """A proposal field's value for people: amounts with two decimals in the page's locale,
    days as `day`, a rate without trailing zeros ("25", "11,11"); anything else as it is."""
    if key == "category":  # an expense category (domain/accounts.py) in words
        return text(f"category.{value}", lang) if f"category.{value}" in TEXTS else str(value)
    try:
        if key in AMOUNT_FIELDS:
            return money(str(value), lang)
        if key in DAY_FIELDS:
            return day(str(value), lang)
        if key in RATE_FIELDS:
            return format_decimal(Decimal(str(value)), format="0.##", locale=lang)
    except (ArithmeticError, ValueError):  # not a number or a date after all: as it is
        pass
    if value is True:  # a credit note's flag (ADR 0054)
        return "ja" if lang == "nb" else "yes"
    return str(value)


def when(value: dt.datetime | None, lang: Lang) -> str:
    """A moment as people in Norway read it (Europe/Oslo)."""
    if value is None:
        return ""
    return format_datetime(value.astimezone(OSLO), format="short", locale=lang)


#: The page's words: a view over the one catalogue (application/messages.TEXTS), its keys
#: "web.<name>" under their page names and the proposal kinds the conversation names too.
TEXTS: Final[Mapping[str, Mapping[Lang, str]]] = MappingProxyType(
    {
        # (not "kind.other": the conversation's word for a kind it does not name; the page
        # shows such a kind by its name, as `text` does for any unknown key)
        **{k: v for k, v in m.TEXTS.items() if k.startswith("kind.") and k != "kind.other"},
        **{key[4:]: entry for key, entry in m.TEXTS.items() if key.startswith("web.")},
    }
)


def text(key: str, lang: Lang, **values: object) -> str:
    """The text of `key` in `lang` with `values` filled in; the key itself when unknown
    (a status or kind added later still shows, untranslated)."""
    entry = TEXTS.get(key)
    if entry is None:
        return key.split(".", 1)[-1]
    template = entry[lang]
    if not values:
        return template
    # A day filled into a sentence reads as `day` has it ("01.12.2026" in Norwegian), not
    # as Python prints a date (ISO): a page's "2026-12-01 – 2026-12-08".
    shown = {
        name: day(value, lang)
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime)
        else value
        for name, value in values.items()
    }
    return template.format(**shown)


def month(value: dt.date, lang: Lang) -> str:
    """A calendar month as people read it: "desember 2026" / "December 2026"."""
    return format_date(value, format="LLLL y", locale=lang)


def entry_text(value: str | None, lang: Lang) -> str:
    """An entry's stored text for the page: its ISO days as `day` has them in Norwegian
    (application/messages.dates_in_text); in English as stored."""
    if not value:
        return ""
    return m.dates_in_text(value) if lang == "nb" else value


def signal(name: object, lang: Lang) -> str:
    """A confidence signal's name (domain/confidence.py: "pattern", "completeness") in
    words; an unknown one as it is."""
    key = f"signal.{name}"
    return text(key, lang) if key in TEXTS else str(name or "")


def effect(value: object, lang: Lang) -> str:
    """What a reason adds to or takes from the score, signed, in the page's locale:
    "+0,20 poeng" / "−0.15 points"; as it is when not a number."""
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        return str(value)
    if not number.is_finite():
        return str(value)
    shown = format_decimal(abs(number), format="0.00", locale=lang)
    sign = "−" if number < 0 else "+" if number > 0 else "±"
    return text("effect", lang, effect=f"{sign}{shown}")


def event_name(name: str, lang: Lang) -> str:
    """An event type in words: a proposal's step after its kind ("Utlegg: foreslått"),
    the others by their own key ("Dokumentet lest"); an unknown type by its name."""
    key = f"event.{name}"
    if key in TEXTS:
        return text(key, lang)
    kind_step = _KIND_STEP.get(name)
    if kind_step is None:
        return name
    kind, step = kind_step
    kind_key = f"kind.{kind}"
    kind_words = text(kind_key, lang) if kind_key in TEXTS else kind
    return f"{kind_words}: {text(f'step.{step}', lang)}"


#: Each proposal event type's kind and step (domain.events.CATALOGUE).
_KIND_STEP: Final[Mapping[str, tuple[str, str]]] = MappingProxyType(
    {
        name: (entry.kind.value, entry.step.value)
        for name, entry in CATALOGUE.items()
        if entry.kind is not None and f"web.step.{entry.step.value}" in m.TEXTS
    }
)
