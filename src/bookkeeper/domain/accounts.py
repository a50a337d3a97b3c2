"""Where a document is booked when no applied pattern names its merchant: the default
accounts of the Norwegian standard chart (NS 4102), chosen by the merchant's name and the
VAT rate, and the choice between an applied pattern and that default.

A default is a starting point for the reviewer: without an applied pattern nothing is
approved automatically.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Final

import msgspec

from bookkeeper.domain.patterns import Pattern, PatternMatch, best_match, normalise_merchant

#: The VAT rate assumed when the document states none and no pattern gives one.
DEFAULT_VAT_RATE: Final = Decimal("25")
#: The category of an expense booked by an applied pattern (not by the default table).
PATTERN_CATEGORY: Final = "pattern"


class DefaultAccount(msgspec.Struct, frozen=True, kw_only=True):
    """Where a document goes when no applied pattern names its merchant."""

    category: str
    account: str
    #: Whole words of the normalised merchant name that select this row.
    keywords: frozenset[str] = frozenset()
    #: VAT rates that select this row when no keyword did.
    vat_rates: frozenset[Decimal] = frozenset()


#: The fallback table (Norwegian standard chart, NS 4102), first match wins: keywords of the
#: merchant's name, then the VAT rate, then the last row.
DEFAULT_ACCOUNTS: Final[tuple[DefaultAccount, ...]] = (
    DefaultAccount(
        category="travel",  # 7140 Reisekostnad, ikke oppgavepliktig
        account="7140",
        keywords=frozenset(
            {
                "ruter",
                "vy",
                "flytoget",
                "sas",
                "norwegian",
                "wideroe",
                "taxi",
                "uber",
                "bolt",
                "hotel",
                "hotell",
                "scandic",
                "thon",
                "entur",
                "skyss",
                "atb",
            }
        ),
    ),
    DefaultAccount(
        category="telecom",  # 6900 Telefon
        account="6900",
        keywords=frozenset({"telenor", "telia", "ice", "talkmore", "onecall"}),
    ),
    DefaultAccount(
        category="software",  # 6540, as the approved Adobe pattern of the product stories
        account="6540",
        keywords=frozenset(
            {
                "adobe",
                "google",
                "microsoft",
                "github",
                "anthropic",
                "openai",
                "cloudflare",
                "atlassian",
                "slack",
                "figma",
                "notion",
                "jetbrains",
                "dropbox",
                "zoom",
                # more of the subscriptions a small company pays abroad (reading probe 6)
                "aws",
                "amazon",  # "Amazon Web Services EMEA SARL" (a shop order is 6540 as well)
                "canva",
                "hetzner",
                "digitalocean",
                "heroku",
                "vercel",
                "mailchimp",
                "hubspot",
                "shopify",
                "miro",
                "asana",
                "1password",
                "visma",
                "tripletex",
                "fiken",
            }
        ),
    ),
    DefaultAccount(
        category="equipment",  # 6540 Inventar og utstyr: electronics and hardware chains
        account="6540",
        keywords=frozenset(
            {
                "elkjop",
                "power",
                "komplett",
                "netonnet",
                "clas",
                "biltema",
                "jernia",
                "jula",
                "ikea",
                "byggmakker",
                "maxbo",
                "monter",
                "obs",
            }
        ),
    ),
    DefaultAccount(
        category="office",  # 6800 Kontorrekvisita
        account="6800",
        keywords=frozenset({"kontorrekvisita", "kontorservice", "lyreco", "staples"}),
    ),
    DefaultAccount(
        category="travel",  # 12 %: passenger transport and hotels
        account="7140",
        vat_rates=frozenset({Decimal("12")}),
    ),
    DefaultAccount(
        category="food",  # 15 %: food and drink for the staff — 5990 Annen personalkostnad
        account="5990",
        vat_rates=frozenset({Decimal("15")}),
    ),
    DefaultAccount(category="other", account="7790"),  # 7790 Annen kostnad
)


def default_account(merchant: str | None, vat_rate: Decimal) -> DefaultAccount:
    """The row of DEFAULT_ACCOUNTS for a merchant name and a VAT rate."""
    words = set(normalise_merchant(merchant).split()) if merchant else set()
    for row in DEFAULT_ACCOUNTS:
        if row.keywords & words:
            return row
    for row in DEFAULT_ACCOUNTS:
        if vat_rate in row.vat_rates:
            return row
    return DEFAULT_ACCOUNTS[-1]


class AccountChoice(msgspec.Struct, frozen=True, kw_only=True):
    """The account, category and VAT rate a document is proposed with."""

    account_code: str
    #: The expense category: the default row's, or PATTERN_CATEGORY.
    category: str
    vat_rate: Decimal
    #: True when the VAT rate is DEFAULT_VAT_RATE because neither the document nor a
    #: pattern gave one.
    vat_rate_assumed: bool
    #: The applied pattern that chose the account, if any.
    pattern: PatternMatch | None


def choose_account(
    merchant: str | None, vat_rate: Decimal | None, patterns: Iterable[Pattern]
) -> AccountChoice:
    """The booking of a document from `merchant` with the VAT rate read from it (None when
    none was read): an applied pattern of the merchant sets the account (and the VAT rate
    when the document gave none); otherwise the DEFAULT_ACCOUNTS row of the merchant and
    rate; a rate neither read nor given by a pattern is DEFAULT_VAT_RATE."""
    match = best_match(merchant, patterns) if merchant else None
    applied = match.pattern if match is not None else None
    assumed = False
    if vat_rate is not None:
        rate = vat_rate
    elif applied is not None:
        rate = applied.vat_rate
    else:
        rate = DEFAULT_VAT_RATE
        assumed = True
    if applied is not None:
        return AccountChoice(
            account_code=applied.account_code,
            category=PATTERN_CATEGORY,
            vat_rate=rate,
            vat_rate_assumed=assumed,
            pattern=match,
        )
    default = default_account(merchant, rate)
    return AccountChoice(
        account_code=default.account,
        category=default.category,
        vat_rate=rate,
        vat_rate_assumed=assumed,
        pattern=None,
    )
