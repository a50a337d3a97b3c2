"""BOOKKEEPER_NATS_*: no URL is no NATS; names NATS cannot hold, and reconnect settings out
of their range, are refused by name."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest

from bookkeeper.adapters.nats.config import (
    NatsSettings,
    load_bus_approval_limit,
    load_nats_settings,
)
from bookkeeper.adapters.nats.reconnect import Reconnecting
from bookkeeper.settings import SettingsError

URL = {"BOOKKEEPER_NATS_URL": "nats://127.0.0.1:4222"}


def test_no_url_means_no_nats() -> None:
    assert load_nats_settings({}) is None
    assert load_nats_settings({"BOOKKEEPER_NATS_URL": "  "}) is None


def test_the_documented_defaults() -> None:
    settings = load_nats_settings(URL)
    assert settings == NatsSettings(url="nats://127.0.0.1:4222")
    assert settings.filter_subject == "bookkeeper.in.>"


def test_names_are_configurable() -> None:
    settings = load_nats_settings(
        URL
        | {
            "BOOKKEEPER_NATS_STREAM": "IN",
            "BOOKKEEPER_NATS_SUBJECT_PREFIX": "erp.events",
            "BOOKKEEPER_NATS_DURABLE": "ledger-eu",
            "BOOKKEEPER_NATS_MAX_DELIVER": "3",
            "BOOKKEEPER_NATS_OUT_SUBJECT_PREFIX": "erp.ledger",
        }
    )
    assert settings is not None
    assert (settings.stream, settings.filter_subject, settings.durable) == (
        "IN",
        "erp.events.>",
        "ledger-eu",
    )
    assert (settings.max_deliver, settings.out_prefix) == (3, "erp.ledger")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("NATS_URL", "http://127.0.0.1:4222"),
        ("NATS_STREAM", "has space"),
        ("NATS_STREAM", "dots.are.not.allowed"),
        ("NATS_SUBJECT_PREFIX", "wild.*"),
        ("NATS_SUBJECT_PREFIX", "trailing."),
        ("NATS_DURABLE", "x" * 65),
        ("NATS_MAX_DELIVER", "0"),
        ("NATS_MAX_DELIVER", "ten"),
        ("NATS_DEAD_LETTER_SUBJECT", "bookkeeper.in.dead"),
        ("NATS_OUT_SUBJECT_PREFIX", "bookkeeper.in"),
        ("NATS_OUT_SUBJECT_PREFIX", "bookkeeper"),
        ("NATS_ACCOUNTS_SUBJECT_PREFIX", "bookkeeper.in.accounts"),
        ("NATS_ACCOUNTS_SUBJECT_PREFIX", "bookkeeper.ledger"),
        ("NATS_ACCOUNTS_SUBJECT_PREFIX", "bookkeeper"),
        ("NATS_ACCOUNTS_STREAM", "BOOKKEEPER_IN"),
        ("NATS_ACCOUNTS_DURABLE", "bad durable"),
        ("NATS_RECONNECT_ATTEMPTS", "-2"),
        ("NATS_RECONNECT_ATTEMPTS", "many"),
        ("NATS_RECONNECT_ATTEMPTS", "100001"),
        ("NATS_RECONNECT_WAIT", "0"),
        ("NATS_RECONNECT_WAIT", "nan"),
        ("NATS_RECONNECT_WAIT", "2s"),
        ("NATS_RECONNECT_BACKOFF_BASE", "inf"),
        ("NATS_RECONNECT_BACKOFF_MAX", "0.2"),  # below the default base's 0.5
        ("NATS_CONNECT_TIMEOUT", "0.5"),
        ("NATS_CONNECT_TIMEOUT", "-10"),
    ],
)
def test_a_bad_value_is_refused_with_its_name(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=f"BOOKKEEPER_{name}"):
        load_nats_settings(URL | {f"BOOKKEEPER_{name}": value})


def test_the_reconnect_is_configurable() -> None:
    settings = load_nats_settings(
        URL
        | {
            "BOOKKEEPER_NATS_RECONNECT_ATTEMPTS": "-1",
            "BOOKKEEPER_NATS_RECONNECT_WAIT": "0.5",
            "BOOKKEEPER_NATS_RECONNECT_BACKOFF_BASE": "2",
            "BOOKKEEPER_NATS_RECONNECT_BACKOFF_MAX": "120",
            "BOOKKEEPER_NATS_CONNECT_TIMEOUT": "3",
        }
    )
    assert settings is not None
    assert (
        settings.reconnect_attempts,
        settings.reconnect_wait,
        settings.reconnect_backoff_base,
        settings.reconnect_backoff_max,
        settings.connect_timeout,
    ) == (-1, 0.5, 2.0, 120.0, 3.0)


def test_a_back_off_ceiling_below_its_base_names_both() -> None:
    with pytest.raises(SettingsError, match=r"BACKOFF_MAX .*BACKOFF_BASE"):
        load_nats_settings(
            URL
            | {
                "BOOKKEEPER_NATS_RECONNECT_BACKOFF_BASE": "60",
                "BOOKKEEPER_NATS_RECONNECT_BACKOFF_MAX": "30",
            }
        )


async def test_the_first_attempt_at_start_waits_the_connect_timeout_only() -> None:
    # A server that never answers: the start gives up after BOOKKEEPER_NATS_CONNECT_TIMEOUT
    # (not a hard-coded 10 s) and connects in the background.
    settings = dataclasses.replace(NatsSettings(url="nats://127.0.0.1:1"), connect_timeout=1.0)
    hangs = asyncio.Event()
    link = Reconnecting(settings, "test", hangs.wait, draw=lambda: 0.0)
    started = time.monotonic()
    try:
        await asyncio.wait_for(link.first(), 5.0)
        assert time.monotonic() - started < 5.0
        assert link.attempts == 1 and link.failure is not None
    finally:
        await link.close()


@pytest.mark.parametrize(
    "url", ["nats://bus:natspass@127.0.0.1:notaport", "nats://a:4222,nats://bus:natspass@b:99999"]
)
def test_a_nats_url_with_a_bad_port_is_refused_without_its_password(url: str) -> None:
    """It was taken, and the bus retried "invalid connect url option" for ever."""
    with pytest.raises(SettingsError, match="BOOKKEEPER_NATS_URL") as refused:
        load_nats_settings({"BOOKKEEPER_NATS_URL": url})
    assert "natspass" not in str(refused.value)
    assert load_nats_settings({"BOOKKEEPER_NATS_URL": "nats://a:4222,nats://b:4223"}) is not None


def test_the_bus_approval_limit() -> None:
    assert load_bus_approval_limit({}) is None
    assert load_bus_approval_limit({"BOOKKEEPER_BUS_APPROVAL_LIMIT": "5000"}) == "5000"


@pytest.mark.parametrize("value", ["lots", "-5", "5,000", "NaN"])
def test_a_bus_approval_limit_that_is_no_amount_is_refused_at_start(value: str) -> None:
    """It was taken as it stood: every message the bus booked then failed its approval
    ("nothing can be approved with it"), long after a start that looked fine."""
    with pytest.raises(SettingsError, match="BOOKKEEPER_BUS_APPROVAL_LIMIT") as refused:
        load_bus_approval_limit({"BOOKKEEPER_BUS_APPROVAL_LIMIT": value})
    assert value not in str(refused.value)


def test_the_accounts_master_has_its_own_stream_subjects_and_durable() -> None:
    settings = load_nats_settings(
        URL
        | {
            "BOOKKEEPER_NATS_ACCOUNTS_STREAM": "MASTER",
            "BOOKKEEPER_NATS_ACCOUNTS_SUBJECT_PREFIX": "erp.accounts",
            "BOOKKEEPER_NATS_ACCOUNTS_DURABLE": "accounts-eu",
        }
    )
    assert settings is not None
    accounts = settings.accounts()
    assert (accounts.stream, accounts.filter_subject, accounts.durable) == (
        "MASTER",
        "erp.accounts.>",
        "accounts-eu",
    )
    assert accounts.dead_letter_stream == settings.dead_letter_stream
    defaults = load_nats_settings(URL)
    assert defaults is not None
    assert defaults.accounts().filter_subject == "bookkeeper.accounts.>"


def test_the_url_the_log_shows_has_no_credentials() -> None:
    from bookkeeper.adapters.nats.config import shown_url

    assert shown_url("nats://127.0.0.1:4222") == "nats://127.0.0.1:4222"
    assert shown_url("nats://svc:s3cret@nats.internal:4222") == "nats://***@nats.internal:4222"
    assert shown_url("tls://t0ken@a:4222, nats://b:4222") == "tls://***@a:4222,nats://b:4222"
    assert "s3cret" not in shown_url("nats://u:s3cret@x:1,nats://u:s3cret@y:2")
