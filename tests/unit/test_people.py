"""What people are called where people read (application/people.py), and where the names
come from: configuration, the token's name claims, Discord."""

from __future__ import annotations

import pytest

from bookkeeper.adapters.auth.claims import principal_from_claims
from bookkeeper.application.people import MAX_LEARNT, MAX_NAME, People, parse_people
from bookkeeper.settings import SettingsError, load_settings


def test_a_person_is_shown_by_configured_then_learnt_name_else_the_bare_subject() -> None:
    people = People({"kari": "Kari Nordmann"})
    assert people.name("human:kari") == "Kari Nordmann"
    assert people.name("human:ola") == "ola"  # never "human:ola"
    people.learn("ola", "Ola  Nordmann ")
    assert people.name("human:ola") == "Ola Nordmann"
    people.learn("kari", "K. N.")  # a configured name wins over a learnt one
    assert people.name("human:kari") == "Kari Nordmann"
    assert people.name("human:discord:42") == "discord:42"
    assert people.name(None) == "?"


def test_service_actors_are_words_in_the_readers_language() -> None:
    people = People()
    assert people.name("system:review-rules") == "reglene for automatisk godkjenning"
    assert people.name("system:review-rules", "en") == "the automatic approval rules"
    assert people.name("book-e") == "Book-E"
    assert people.name("system:books-import") == "system:books-import"


@pytest.mark.parametrize("name", ["", "   ", "Kari\x00", "Kari\u202eNordmann", 42, None])
def test_an_unusable_name_is_not_learnt(name: object) -> None:
    people = People()
    people.learn("kari", name)
    assert people.name("human:kari") == "kari"


def test_learnt_names_are_bounded_and_clipped() -> None:
    people = People()
    people.learn("kari", "K" * (MAX_NAME + 50))
    assert len(people.name("human:kari")) == MAX_NAME
    for i in range(MAX_LEARNT + 1):
        people.learn(f"u{i}", f"User {i}")
    assert people.name("human:kari") == "kari"  # the oldest was forgotten
    assert people.name(f"human:u{MAX_LEARNT}") == f"User {MAX_LEARNT}"


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
