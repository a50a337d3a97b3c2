"""Cost accounts whose purchases carry no input VAT deduction right (ADR 0055).

Merverdiavgiftsloven § 8-3 (1) c allows no deduction of input VAT on representation
(business entertainment: meals, drinks, events for customers and business contacts),
whether or not the cost is deductible for income tax. NS 4102 books representation on
7350 ("Representasjon, fradragsberettiget") and 7360 ("… ikke fradragsberettiget"): the
"fradragsberettiget" there is income tax's, never VAT's (norway.md § Chart of accounts).

A purchase booked on such an account is booked at its whole gross amount on the cost
account, with no line on an input VAT account (2710 / 2711 / 2713 …), under the SAF-T
code 0 ("no VAT treatment", in no VAT return) and Fiken's vatType NONE (integrations.md
§ vatType: the one purchase type that is neither deductible nor reverse charge) — however
the account was chosen: the agent's proposal, an approved pattern, a reviewer's correction.
A journal entry that deducts input VAT on one (a bus message, a manual entry) is refused.

Other costs without a deduction right (§ 8-3 (1) a food for staff and owners, b housing,
§ 8-4 passenger cars) have no account of their own in the standard chart — 7000-series
transport costs are also those of vans, which are deductible — so they are not on the
default list: the reviewer books them at rate 0.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

#: The default accounts (main account, NS 4102) with no input VAT deduction right.
NO_DEDUCTION_ACCOUNTS: Final[frozenset[str]] = frozenset({"7350", "7360"})

#: Why, per account: the legal ground, said in the reason a reviewer sees.
_GROUNDS: Final[dict[str, str]] = {
    "7350": "representation",
    "7360": "representation",
}


def main_account(code: str) -> str:
    """The main account of a sub-ledger code ("7350:1" → "7350"); else the code."""
    return code.partition(":")[0]


def no_deduction(account: str | None, accounts: Iterable[str] = NO_DEDUCTION_ACCOUNTS) -> bool:
    """True when a cost booked on `account` carries no input VAT deduction right."""
    return account is not None and main_account(account) in frozenset(accounts)


def no_deduction_reason(account: str) -> str:
    """The reason a reviewer is shown (English in the record; messages says it in
    Norwegian: "ingen fradragsrett for representasjon …")."""
    ground = _GROUNDS.get(main_account(account), "this account")
    return (
        f"no input VAT deduction for {ground} (account {account}, merverdiavgiftsloven "
        f"§ 8-3): the whole amount is booked as the cost"
    )
