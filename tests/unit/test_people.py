"""What people are called where people read (application/people.py), and where the names
come from: configuration, the token's name claims, Discord."""

from __future__ import annotations

import pytest

from bookkeeper.adapters.auth.claims import principal_from_claims
from bookkeeper.application.people import MAX_LEARNT, MAX_NAME, People, parse_people
from bookkeeper.settings import SettingsError, load_settings


def test_a_person_is_shown_by_configured_then_learnt_name_else_the_bare_subject() -> None:
    people = People({"kari": "Kari Nordmann"})
    assert people.name("human:kari", tenant="acme") == "Kari Nordmann"
    assert people.name("human:ola", tenant="acme") == "ola"  # never "human:ola"
    people.learn("acme", "ola", "Ola  Nordmann ")
    assert people.name("human:ola", tenant="acme") == "Ola Nordmann"
    people.learn("acme", "kari", "K. N.")  # a configured name wins over a learnt one
    assert people.name("human:kari", tenant="acme") == "Kari Nordmann"
    assert people.name("human:discord:42", tenant="acme") == "discord:42"
    assert people.name(None, tenant="acme") == "?"


def test_service_actors_are_words_in_the_readers_language() -> None:
    people = People()
    assert people.name("system:review-rules", tenant="acme") == "reglene for automatisk godkjenning"
    assert people.name("system:review-rules", "en", tenant="acme") == "the automatic approval rules"
    assert people.name("book-e", tenant="acme") == "Book-E"
    assert people.name("system:books-import", tenant="acme") == "system:books-import"


@pytest.mark.parametrize("name", ["", "   ", "Kari\x00", "Kari\u202eNordmann", 42, None])
def test_an_unusable_name_is_not_learnt(name: object) -> None:
    people = People()
    people.learn("acme", "kari", name)
    assert people.name("human:kari", tenant="acme") == "kari"


def test_learnt_names_are_bounded_and_clipped() -> None:
    people = People()
    people.learn("acme", "kari", "K" * (MAX_NAME + 50))
    assert len(people.name("human:kari", tenant="acme")) == MAX_NAME
    for i in range(MAX_LEARNT + 1):
        people.learn("acme", f"u{i}", f"User {i}")
    assert people.name("human:kari", tenant="acme") == "kari"  # the oldest was forgotten
    assert people.name(f"human:u{MAX_LEARNT}", tenant="acme") == f"User {MAX_LEARNT}"


def test_a_learnt_name_is_its_tenants_alone() -> None:
    """A subject is a name within its tenant: what another tenant's "kari" is called is not
    what this tenant's kari is shown as; a configured name is the operator's, for all."""
    people = People({"ola": "Ola Nordmann"})
    people.learn("globex", "kari", "Mallory")
    assert people.name("human:kari", tenant="acme") == "kari"
    assert people.name("human:kari", tenant="globex") == "Mallory"
    assert people.name("human:kari", tenant=None) == "kari"
    people.learn("acme", "kari", "Kari Nordmann")
    assert people.name("human:kari", tenant="acme") == "Kari Nordmann"
    assert people.name("human:kari", tenant="globex") == "Mallory"
    assert people.name("human:ola", tenant="globex") == "Ola Nordmann"


def test_configured_names_come_from_bookkeeper_people() -> None:
    assert parse_people(["kari=Kari Nordmann", "human:ola = Ola"]) == {
        "kari": "Kari Nordmann",
        "ola": "Ola",
    }
    settings = load_settings({"BOOKKEEPER_PEOPLE": "kari=Kari Nordmann, ola=Ola Nordmann"})
    assert settings.people == ("kari=Kari Nordmann", "ola=Ola Nordmann")
    with pytest.raises(SettingsError, match="BOOKKEEPER_PEOPLE"):
        load_settings({"BOOKKEEPER_PEOPLE": "kari"})


def test_the_tokens_name_claims_give_the_principals_name_never_its_subject() -> None:
    base = {"sub": "kari", "tenant": "acme", "roles": ["reviewer"]}
    named = principal_from_claims({**base, "name": "Kari Nordmann", "preferred_username": "kn"})
    assert named.name == "Kari Nordmann" and named.actor == "human:kari"
    assert principal_from_claims({**base, "preferred_username": "kn"}).name == "kn"
    # an unusable name is left out: the token is still good
    assert principal_from_claims({**base, "name": ["x"], "preferred_username": ""}).name is None
