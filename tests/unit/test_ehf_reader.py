"""The EHF reader (ADR 0033 addendum 6) on the elements the HTTP tests do not cover."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bookkeeper.application import ehf as reader
from tests.ehf_documents import ehf, tiny_pdf


def test_reverse_charge_category_ae_is_read_as_reverse_charge() -> None:
    read = reader.parse(ehf(parts=(("AE", "0", "500.00"),), supplier_org=None)).extraction
    assert read.reverse_charge is True
    assert (read.gross, read.vat_rate, read.organization_number) == (
        Decimal("500.00"),
        Decimal(0),
        None,
    )


def test_the_vat_in_the_accounting_currency_is_not_the_documents() -> None:
    xml = ehf(currency="EUR", parts=(("S", "25", "100.00"),)).replace(
        b"</cac:TaxTotal>",
        b'</cac:TaxTotal><cac:TaxTotal><cbc:TaxAmount currencyID="NOK">290.00</cbc:TaxAmount>'
        b"</cac:TaxTotal>",
        1,
    )
    read = reader.parse(xml).extraction
    assert (read.currency, read.vat_amount, read.gross) == (
        "EUR",
        Decimal("25.00"),
        Decimal("125.00"),
    )


def test_an_iban_payee_account_is_an_iban() -> None:
    read = reader.parse(ehf(account="DE89370400440532013000")).extraction
    assert (read.iban, read.bank_account) == ("DE89370400440532013000", None)


def test_the_embedded_pdf_is_taken_and_a_broken_one_said() -> None:
    pdf = tiny_pdf()
    assert reader.parse(ehf(pdf=pdf)).pdf == pdf
    broken = ehf(pdf=pdf).replace(b'filename="', b'filename="x', 1)
    assert reader.parse(broken).pdf == pdf  # the name is not the content
    other = reader.parse(ehf(pdf=pdf, pdf_mime="image/png"))
    assert other.pdf is None and other.pdf_problem is None


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ((b"<cbc:IssueDate>2026-11-18", b"<cbc:IssueDate>18.11.2026"), "IssueDate"),
        ((b">1250.00</cbc:PayableAmount>", b">mange</cbc:PayableAmount>"), "PayableAmount"),
    ],
)
def test_a_malformed_element_is_a_rejection_that_names_it(
    change: tuple[bytes, bytes], said: str
) -> None:
    with pytest.raises(reader.EhfRejected, match=said):
        reader.parse(ehf().replace(*change, 1))
