"""The review rules table of the seed, as data."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from bookkeeper.domain.events import Kind
from bookkeeper.domain.review import DEFAULT_RULES, Band, Outcome, ReviewRules, decide


def _decide(
    kind: Kind | None,
    score: str,
    *,
    pattern: bool = True,
    duplicate: bool = False,
    amount: str = "199",
    rules: ReviewRules = DEFAULT_RULES,
) -> tuple[Outcome, str]:
    d = decide(
        rules,
        kind=kind,
        score=Decimal(score),
        approved_pattern=pattern,
        duplicate_suspected=duplicate,
        amount=Decimal(amount),
    )
    return d.outcome, d.rule


def test_queries_are_never_reviewed() -> None:
    assert _decide(None, "0") == (Outcome.RECORDED, "query-never-reviewed")


def test_known_pattern_with_high_confidence_is_auto_approved() -> None:
    assert _decide(Kind.RECEIPT_ATTACHMENT, "0.95") == (
        Outcome.AUTO_APPROVED,
        "auto-approve-known-pattern",
    )


@pytest.mark.parametrize(
    "kind",
    [
        Kind.INVOICE_REGISTRATION,
        Kind.EXPENSE_REGISTRATION,
        Kind.PATTERN_SUGGESTION,
        Kind.REVERSAL,
        Kind.CORRECTION,
    ],
)
def test_financial_writes_and_pattern_suggestions_are_always_reviewed(kind: Kind) -> None:
    outcome, rule = _decide(kind, "0.99")
    assert outcome is Outcome.AWAITING_REVIEW
    assert rule == f"always-review-{kind.value}"


@pytest.mark.parametrize(
    ("score", "band"),
    [
        ("0.91", Band.AUTO),
        ("0.90", Band.REVIEW_RECOMMENDED),
        ("0.70", Band.REVIEW_RECOMMENDED),
        ("0.69", Band.REVIEW_REQUIRED),
        ("0", Band.REVIEW_REQUIRED),
    ],
)
def test_confidence_bands(score: str, band: Band) -> None:
    assert DEFAULT_RULES.band(Decimal(score)) is band


def test_exactly_090_is_not_auto_approved() -> None:
    assert _decide(Kind.RECEIPT_ATTACHMENT, "0.90")[0] is Outcome.AWAITING_REVIEW


def test_high_score_without_an_approved_pattern_waits() -> None:
    assert _decide(Kind.RECEIPT_ATTACHMENT, "0.95", pattern=False)[1] == "no-approved-pattern"


def test_duplicate_and_large_amounts_are_never_auto_approved() -> None:
    assert _decide(Kind.RECEIPT_ATTACHMENT, "0.95", duplicate=True)[1] == "duplicate-suspected"
    assert _decide(Kind.RECEIPT_ATTACHMENT, "0.95", amount="10000.01")[1] == (
        "above-auto-approval-limit"
    )


def test_a_tenant_can_store_stricter_rules_as_data() -> None:
    raw = b'{"autoApproveAbove": "0.95", "autoApprovableKinds": []}'
    strict = msgspec.json.decode(raw, type=ReviewRules)
    assert _decide(Kind.RECEIPT_ATTACHMENT, "0.96", rules=strict)[0] is Outcome.AWAITING_REVIEW
    assert msgspec.json.decode(msgspec.json.encode(strict), type=ReviewRules) == strict


def test_unknown_rule_fields_are_refused() -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(b'{"autoApproveEverything": true}', type=ReviewRules)


def test_a_senders_reservation_is_never_approved_automatically() -> None:
    # "privat, ikke bokfør" with the document: a person reads it, whatever the pattern,
    # the score or a tenant's low threshold; named before the other reasons to wait.
    lenient = msgspec.structs.replace(DEFAULT_RULES, auto_approve_above=Decimal("0.5"))
    for rules in (DEFAULT_RULES, lenient):
        d = decide(
            rules,
            kind=Kind.RECEIPT_ATTACHMENT,
            score=Decimal("0.99"),
            approved_pattern=True,
            duplicate_suspected=True,
            amount=Decimal("100"),
            sender_reservation=True,
        )
        assert (d.outcome, d.rule) == (Outcome.AWAITING_REVIEW, "sender-reservation")
    plain = decide(
        DEFAULT_RULES,
        kind=Kind.RECEIPT_ATTACHMENT,
        score=Decimal("0.99"),
        approved_pattern=True,
        duplicate_suspected=False,
        amount=Decimal("100"),
    )
    assert plain.outcome is Outcome.AUTO_APPROVED
