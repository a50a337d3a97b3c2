"""Charts drawn on the server as inline SVG: no script, no chart library, nothing from a CDN.

`bar_chart` draws one horizontal bar per (label, amount), scaled to the largest absolute
amount, negative amounts to the left of a zero line. The SVG scales with its container
(viewBox, width 100 %), has a <title> and a <desc> for screen readers, and every bar a
<title> with its label and amount, so the figures behind the picture are never lost (the
table beside it has them too).

`daily_chart` draws a series per source over consecutive days (the spending page's last 30
days) as stacked columns, one per day: each source a colour (CSS classes `s0`…`s7`, also
on the legend, which gives each source's total), negatives (credits) below the zero line.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Final
from xml.sax.saxutils import escape, quoteattr

from babel.dates import format_skeleton
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


#: The daily chart: plot area, margins, legend and how many colours there are.
PLOT: Final = 200
TOP: Final = 10
AXIS: Final = 70
RIGHT: Final = 24
BOTTOM: Final = 26
LEGEND_ROW: Final = 22
LEGEND_COLUMNS: Final = 3
COLOURS: Final = 8


def daily_chart(
    title: str, start: dt.date, series: Mapping[str, Sequence[Decimal]], lang: Lang
) -> Markup:
    """Stacked columns, one per day from `start`, one colour per series (see the module
    docstring); empty when every value is zero."""
    names = list(series)
    days = max((len(values) for values in series.values()), default=0)
    if not days or all(v == 0 for values in series.values() for v in values):
        return Markup("")
    ups = [sum((max(vs[d], Decimal(0)) for vs in series.values() if d < len(vs)), Decimal(0))
           for d in range(days)]  # fmt: skip
    downs = [sum((min(vs[d], Decimal(0)) for vs in series.values() if d < len(vs)), Decimal(0))
             for d in range(days)]  # fmt: skip
    top, bottom = max(ups), -min(downs)
    scale = Decimal(PLOT) / (top + bottom)
    zero = TOP + int(top * scale)
    column = (WIDTH - AXIS - RIGHT) / days
    bar = max(column * 0.72, 1.0)
    legend_rows = -(-len(names) // LEGEND_COLUMNS)
    height = TOP + PLOT + BOTTOM + legend_rows * LEGEND_ROW + 4
    totals = {name: sum(series[name], Decimal(0)) for name in names}
    parts = [
        f'<svg class="chart daily" role="img" viewBox="0 0 {WIDTH} {height}" '
        f'preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg" '
        f'aria-labelledby="daily-chart-title">',
        f'<title id="daily-chart-title">{escape(title)}</title>',
        f"<desc>{escape(', '.join(f'{n}: {money(totals[n], lang)}' for n in names))}</desc>",
    ]
    for value, y in ((top, TOP), (-bottom, TOP + PLOT)):
        if value:
            parts.append(
                f'<text x="{AXIS - 6}" y="{y + 4}" text-anchor="end" class="chart-value">'
                f"{escape(money(value, lang))}</text>"
                f'<line x1="{AXIS}" x2="{WIDTH - RIGHT}" y1="{y}" y2="{y}" class="grid"/>'
            )
    for day in range(days):
        x = AXIS + day * column + (column - bar) / 2
        when = start + dt.timedelta(days=day)
        label = format_skeleton("MMMd", when, locale=lang)
        up = down = Decimal(0)
        for index, name in enumerate(names):
            values = series[name]
            value = values[day] if day < len(values) else Decimal(0)
            if value == 0:
                continue
            if value > 0:
                y0, up = up, up + value
                y, length = zero - int(up * scale), int(up * scale) - int(y0 * scale)
            else:
                y0, down = down, down + value
                y, length = zero + int(-y0 * scale), int(-down * scale) - int(-y0 * scale)
            parts.append(
                f'<rect x="{x:.1f}" y="{y}" width="{bar:.1f}" height="{max(length, 1)}" '
                f'class="series s{index % COLOURS}"><title>{escape(name)} {escape(label)}: '
                f"{escape(money(value, lang))}</title></rect>"
            )
        if (days - 1 - day) % 7 == 0:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{TOP + PLOT + 18}" text-anchor="middle" '
                f'class="chart-label">{escape(label)}</text>'
            )
    parts.append(
        f'<line x1="{AXIS}" x2="{WIDTH - RIGHT}" y1="{zero}" y2="{zero}" class="axis" '
        f"stroke-width={quoteattr('1')}/>"
    )
    slot = (WIDTH - 16) // LEGEND_COLUMNS
    for index, name in enumerate(names):
        row, col = divmod(index, LEGEND_COLUMNS)
        x, y = 8 + col * slot, TOP + PLOT + BOTTOM + row * LEGEND_ROW
        shown = name if len(name) <= 18 else name[:17] + "…"
        parts.append(
            f'<g class="legend"><rect x="{x}" y="{y + 4}" width="12" height="12" '
            f'class="series s{index % COLOURS}"/>'
            f'<text x="{x + 18}" y="{y + 15}" class="chart-label">{escape(shown)} '
            f"{escape(money(totals[name], lang))}</text></g>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text in it is escaped above
