"""Reverse charge only where it belongs (ADR 0056, addendum 3): not on a service used abroad
where it is supplied (hotel, meal, taxi, parking, ticket), which carries the foreign
country's VAT and no Norwegian input VAT, and not for a company that is not VAT-registered.

Runs the real DocumentPipeline on the memory Harness with a scripted extraction."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import msgspec
import pytest

from bookkeeper.application import messages
from bookkeeper.application.pipeline import (
    FOREIGN_VAT_WARNING,
    NOT_VAT_REGISTERED_WARNING,
    PLACE_BOUND_ABROAD_WARNING,
    _Facts,
)
from bookkeeper.application.ports import ExtractedLine, Extraction
from bookkeeper.domain.review import ReviewRules
from bookkeeper.domain.rules import place_bound
from tests.unit.external_doubles import PDF, Harness, agent
from tests.unit.pipeline_doubles import DAY, ExtractorDouble, pipeline_without_bank


def _extraction(**fields: Any) -> Extraction:
    base: dict[str, Any] = {
        "extractor": "double",
        "document_type": "receipt",
        "merchant_name": "GitHub, Inc.",
        "date": DAY,
        "currency": "USD",
        "gross": D("400.00"),
        "vat_amount": D("0.00"),
        "vat_rate": D("0"),
        "confidence": D("0.9"),
    }
    base.update(fields)
    return Extraction(**base)


async def _proposed(extraction: Extraction, *, vat_registered: bool = True) -> dict[str, Any]:
    """The proposal's data and warnings for one uploaded document (no bank match)."""
    harness = Harness()
    if not vat_registered:
        async with harness.uow_factory() as uow:
            await uow.settings.save_review_rules(
                "acme", ReviewRules(vat_registered=False), harness.clock.now()
            )
            await uow.commit()
    pipeline = pipeline_without_bank(harness, ExtractorDouble(extraction))
    result = await pipeline.process(agent(), PDF, "application/pdf", "receipt.pdf")
    view = await harness.view(result.proposal.id)
    return {"data": view.data, "warnings": list(result.warnings)}


async def test_a_software_subscription_from_abroad_is_still_reverse_charged() -> None:
    proposed = await _proposed(_extraction())
    assert proposed["data"].get("reverseCharge") is True


async def test_a_hotel_abroad_with_its_own_vat_is_booked_gross_without_norwegian_vat() -> None:
    """A German hotel bill at 7 % MwSt: no Norwegian 25 % assumed, no reverse charge."""
    hotel = _extraction(
        merchant_name="Adlon Kempinski Berlin",
        currency="EUR",
        gross=D("214.00"),
        vat_amount=D("14.00"),
        vat_rate=D("7"),
        lines=(ExtractedLine(description="Übernachtung 1 Nacht", gross=D("214.00")),),
    )
    proposed = await _proposed(hotel)
    data = proposed["data"]
    assert data["vatRate"] == "0"
    assert data["vatAmount"] == "0.00"
    assert data["amount"] == "214.00"
    assert "reverseCharge" not in data
    assert PLACE_BOUND_ABROAD_WARNING in proposed["warnings"]


@pytest.mark.parametrize(
    "fields",
    [
        {"merchant_name": "Le Petit Zinc", "lines": (ExtractedLine(description="Dinner"),)},
        {"merchant_name": "Trattoria da Enzo"},
        {"merchant_name": "Yellow Cab Co"},
        {"merchant_name": "Q-Park", "evidence": {"gross": "Parking 3h EUR 21.00"}},
        {"merchant_name": "Ticketmaster", "lines": (ExtractedLine(description="Concert"),)},
        {"merchant_name": "Norwegian Air Shuttle"},  # the default account's travel names
    ],
)
async def test_place_bound_services_abroad_are_not_reverse_charged(fields: Any) -> None:
    proposed = await _proposed(_extraction(currency="EUR", **fields))
    assert "reverseCharge" not in proposed["data"]
    assert proposed["data"]["vatRate"] == "0"
    assert PLACE_BOUND_ABROAD_WARNING in proposed["warnings"]


async def test_a_shop_abroad_charging_a_rate_norway_also_has_is_no_norwegian_input_vat() -> None:
    """A Swedish shop's 25 % moms in SEK is Swedish VAT: booked gross at 0 %, not deducted
    as if it were Norwegian, and no reverse charge either."""
    proposed = await _proposed(
        _extraction(
            merchant_name="Clas Ohlson AB",
            currency="SEK",
            gross=D("1250.00"),
            vat_amount=D("250.00"),
            vat_rate=D("25"),
        )
    )
    data = proposed["data"]
    assert (data["vatRate"], data["vatAmount"]) == ("0", "0.00")
    assert "reverseCharge" not in data
    assert FOREIGN_VAT_WARNING in proposed["warnings"]


async def test_a_norwegian_seller_billing_in_euro_keeps_its_vat() -> None:
    proposed = await _proposed(
        _extraction(
            merchant_name="Kongsberg Digital AS",
            organization_number="974760673",
            currency="EUR",
            gross=D("125.00"),
            vat_amount=D("25.00"),
            vat_rate=D("25"),
        )
    )
    assert (proposed["data"]["vatRate"], proposed["data"]["vatAmount"]) == ("25", "25.00")
    assert FOREIGN_VAT_WARNING not in proposed["warnings"]


async def test_a_company_not_vat_registered_gets_no_reverse_charge() -> None:
    proposed = await _proposed(_extraction(), vat_registered=False)
    assert "reverseCharge" not in proposed["data"]
    assert proposed["data"]["vatAmount"] == "0.00"
    assert NOT_VAT_REGISTERED_WARNING in proposed["warnings"]


def test_registered_is_the_default_and_stored_rules_without_it_read_as_registered() -> None:
    assert ReviewRules().vat_registered is True
    assert msgspec.json.decode(b'{"amountMin": "1"}', type=ReviewRules).vat_registered is True


def test_a_norwegian_hotel_keeps_its_norwegian_rate() -> None:
    facts = _Facts(
        _extraction(
            merchant_name="Scandic Holmenkollen",
            currency="NOK",
            vat_rate=D("12"),
            vat_amount=D("42.86"),
        ),
        [],
        DAY,
    )
    assert facts.vat_rate == D("12") and facts.vat_amount == D("42.86")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hotel Mercure Paris", True),
        ("Restaurante El Faro", True),
        ("Uber trip", True),
        ("Parkhaus am Dom", True),
        ("Billetter Konsert", True),
        ("Figma Professional", False),
        ("Amazon Web Services", False),
        ("Business Barclays", False),  # no whole word
        ("Hotjar Ltd", False),
        # A remote service's invoice lines: reverse charged, whatever one word also means.
        ("Cloud Pub/Sub message delivery", False),
        ("Azure Service Bus Premium", False),
        ("Toll-Free Numbers (US)", False),
        ("Zendesk Suite: support tickets", False),
        ("Bolt Pro monthly", False),
        ("Model train and fine-tune hours", False),
    ],
)
def test_the_wording_is_whole_words(text: str, expected: bool) -> None:
    assert place_bound([text]) is expected


def test_the_warnings_are_said_in_norwegian() -> None:
    said = messages.sentence(PLACE_BOUND_ABROAD_WARNING, messages.NORWEGIAN)
    assert said.startswith("en tjeneste brukt i utlandet"), said
    said = messages.sentence(NOT_VAT_REGISTERED_WARNING, messages.NORWEGIAN)
    assert said.startswith("selskapet er ikke mva-registrert"), said
    said = messages.sentence(FOREIGN_VAT_WARNING, messages.NORWEGIAN)
    assert said.startswith("mva beregnet av en selger i utlandet"), said
