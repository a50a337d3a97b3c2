"""Charts drawn on the server as inline SVG: no script, no chart library, nothing from a CDN.

`bar_chart` draws one horizontal bar per (label, amount), scaled to the largest absolute
amount, negative amounts to the left of a zero line. The SVG scales with its container
(viewBox, width 100 %), has a <title> and a <desc> for screen readers, and every bar a
<title> with its label and amount, so the figures behind the picture are never lost (the
table beside it has them too).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Final
from xml.sax.saxutils import escape, quoteattr

from markupsafe import Markup

from bookkeeper.entrypoints.web.i18n import Lang, money

WIDTH: Final = 640
ROW: Final = 28
LABEL: Final = 220
VALUE: Final = 110
MAX_BARS: Final = 40


def bar_chart(title: str, items: Sequence[tuple[str, Decimal]], lang: Lang) -> Markup:
    """An SVG bar chart of `items` (at most MAX_BARS, the largest first when more)."""
    rows = [(label, value) for label, value in items if value != 0]
    if len(rows) > MAX_BARS:
        rows = sorted(rows, key=lambda row: abs(row[1]), reverse=True)[:MAX_BARS]
    if not rows:
        return Markup("")
    biggest = max(abs(value) for _, value in rows)
    has_negative = any(value < 0 for _, value in rows)
    area = WIDTH - LABEL - VALUE
    zero = LABEL + (area // 2 if has_negative else 0)
    span = area // 2 if has_negative else area
    height = ROW * len(rows) + 8
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {height}" '
        f'preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg" '
        f'aria-labelledby="chart-title">',
        f'<title id="chart-title">{escape(title)}</title>',
        f"<desc>{escape(', '.join(f'{label}: {money(v, lang)}' for label, v in rows))}</desc>",
    ]
    for index, (label, value) in enumerate(rows):
        y = 4 + index * ROW
        length = int(abs(value) / biggest * span) if biggest else 0
        x = zero if value >= 0 else zero - length
        kind = "pos" if value >= 0 else "neg"
        shown = label if len(label) <= 32 else label[:31] + "…"
        parts.append(
            f"<g><title>{escape(label)}: {escape(money(value, lang))}</title>"
            f'<text x="{LABEL - 8}" y="{y + 18}" text-anchor="end" class="chart-label">'
            f"{escape(shown)}</text>"
            f'<rect x="{x}" y="{y + 4}" width="{max(length, 1)}" height="{ROW - 10}" '
            f'class="bar {kind}"/>'
            f'<text x="{WIDTH - 4}" y="{y + 18}" text-anchor="end" class="chart-value">'
            f"{escape(money(value, lang))}</text></g>"
        )
    parts.append(
        f'<line x1="{zero}" x2="{zero}" y1="0" y2="{height}" class="axis" '
        f"stroke-width={quoteattr('1')}/>"
    )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text in it is escaped above
