"""Money and VAT arithmetic on Decimal: kroner with two decimals, never float."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

ORE = Decimal("0.01")
ONE_KRONE = Decimal("1")
HUNDRED = Decimal("100")

#: Norwegian VAT rates in percent (norway.md): general, food, transport/accommodation,
#: raw fish, zero-rated. "No VAT" (outside the act) is also rate 0.
NORWEGIAN_VAT_RATES: frozenset[Decimal] = frozenset(
    Decimal(r) for r in ("25", "15", "12", "11.11", "0")
)


def to_ore(amount: Decimal) -> int:
    """Kroner to integer øre, rounding half up (as the VAT rules prescribe)."""
    return int((amount * HUNDRED).quantize(ONE_KRONE, rounding=ROUND_HALF_UP))


def from_ore(ore: int) -> Decimal:
    """Integer øre to kroner with exactly two decimals."""
    return (Decimal(ore) / HUNDRED).quantize(ORE)


def round_kr(amount: Decimal) -> Decimal:
    """Round to øre, half up."""
    return amount.quantize(ORE, rounding=ROUND_HALF_UP)


def two_places(amount: Decimal) -> Decimal:
    """An amount written with at least two decimals ("0" → 0.00, "12.5" → 12.50), the one
    spelling amounts have in events and JSON. Only pads: a third decimal, which a rule must
    reject rather than round away, and a non-finite value are left as they are."""
    if not amount.is_finite() or amount.as_tuple().exponent <= -2:  # type: ignore[operator]
        return amount
    try:
        return amount.quantize(ORE)
    except InvalidOperation:  # more digits than the context holds
        return amount


def has_at_most_two_decimals(amount: Decimal) -> bool:
    """True when the amount is representable in whole øre."""
    if not amount.is_finite():
        return False
    try:
        return amount == amount.quantize(ORE)
    except InvalidOperation:  # e.g. 1e400: more digits than the context holds
        return False


def vat_of_gross(gross: Decimal, rate_percent: Decimal) -> Decimal:
    """The VAT contained in a gross amount: G × r / (1 + r), rounded to øre half up."""
    rate = rate_percent / HUNDRED
    return round_kr(gross * rate / (1 + rate))


def vat_of_net(net: Decimal, rate_percent: Decimal) -> Decimal:
    """The VAT on a net amount (a basis): N × r, rounded to øre half up."""
    return round_kr(net * rate_percent / HUNDRED)


def net_of_gross(gross: Decimal, rate_percent: Decimal) -> Decimal:
    """The net amount of a gross amount at a rate, so that net + VAT == gross exactly."""
    return gross - vat_of_gross(gross, rate_percent)


def vat_consistent(gross: Decimal, rate_percent: Decimal, vat_amount: Decimal) -> bool:
    """Whether a stated VAT amount matches the rate within one krone (norway.md)."""
    return abs(vat_of_gross(gross, rate_percent) - vat_amount) <= ONE_KRONE


def kroner_text(amount: Decimal, currency: str = "NOK") -> str:
    """An amount as people read it: "1 234,50 kr", "-180,20 kr", "12,00 EUR".

    Always two decimals (rounded half up), a space between thousands and a decimal comma:
    the Norwegian way, used in every human-readable text (reasons, replies, messages) so the
    same amount never reads `-180.2` in one place and `180.20` in another.
    """
    unit = "kr" if currency.upper() == "NOK" else currency.upper()
    return f"{amount_text(amount)} {unit}"


def amount_text(amount: Decimal) -> str:
    """An amount as people read it, without its unit (a column headed "(NOK)"):
    "1 234,50", "-180,20" — `kroner_text` without " kr"."""
    try:
        rounded = amount.quantize(ORE, rounding=ROUND_HALF_UP)
    except InvalidOperation:  # infinite, NaN or more digits than the context holds
        return str(amount)
    sign = "-" if rounded < 0 else ""
    whole, _, cents = f"{abs(rounded):.2f}".partition(".")
    grouped = f"{int(whole):,}".replace(",", " ")
    return f"{sign}{grouped},{cents}"
