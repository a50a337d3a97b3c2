"""BOOKKEEPER_NATS_*: no URL is no NATS; names NATS cannot hold are refused by name."""

from __future__ import annotations

import pytest

from bookkeeper.adapters.nats.config import (
    NatsSettings,
    load_bus_approval_limit,
    load_nats_settings,
)
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
    ],
)
def test_a_bad_value_is_refused_with_its_name(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=f"BOOKKEEPER_{name}"):
        load_nats_settings(URL | {f"BOOKKEEPER_{name}": value})


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
