"""Argument types shared by the CLI's commands."""

from __future__ import annotations

import argparse
import datetime as dt

from bookkeeper.domain.tenants import ANY_TENANT, TENANT_RULE, is_tenant_id


def iso_date(text: str) -> dt.date:
    """A YYYY-MM-DD argument, or argparse's one-line refusal."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def tenant_id(text: str) -> str:
    """A tenant id the service can know (domain.tenants: the same names tokens, the bus
    and `import events` accept); else argparse's one-line refusal."""
    if text == ANY_TENANT:
        raise argparse.ArgumentTypeError(
            "'*' means every tenant and is not a tenant; name one tenant"
        )
    if not is_tenant_id(text):
        raise argparse.ArgumentTypeError(f"not a tenant id: {text!r} ({TENANT_RULE})")
    return text


#: The longest name a `--user` may give, as a token's subject (adapters/auth/claims.py).
MAX_USER_LENGTH = 200


def user_name(text: str) -> str:
    """Who acts, as a token's subject may be: 1–200 printable characters without
    surrounding blanks (it is recorded as the actor, `human:<user>`: a blank one was an
    event no one could be held to); else argparse's one-line refusal."""
    if not text or text != text.strip() or len(text) > MAX_USER_LENGTH or not text.isprintable():
        raise argparse.ArgumentTypeError(
            f"not a user name: {text!r} (1–{MAX_USER_LENGTH} printable characters, "
            "no surrounding blanks)"
        )
    return text


def tenant_or_any(text: str) -> str:
    """A tenant id, or `*` for every tenant (policy rules)."""
    return text if text == ANY_TENANT else tenant_id(text)


def role_name(text: str) -> str:
    """One of the service's roles; else argparse's one-line refusal naming them."""
    from bookkeeper.application.authorization import ROLES

    if text not in ROLES:
        raise argparse.ArgumentTypeError(
            f"unknown role {text!r}: the roles are {', '.join(sorted(ROLES))}"
        )
    return text


def ask(question: str) -> str | None:
    """Ask on the terminal and return the stripped answer; None when stdin is not a terminal
    (a script, a pipe, CI), when nothing was answered, or on end of input."""
    import sys

    if not sys.stdin.isatty():
        return None
    try:
        answer = input(question).strip()
    except EOFError:
        return None
    return answer or None
