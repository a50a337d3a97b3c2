"""A small PNG chart of spending per source and day (Pillow), for the morning post.

One line per source over the days given, the y axis in NOK from 0 to the highest day, the
first and last dates under the x axis and a legend with each source's total. Pillow's
built-in bitmap font keeps it free of font files; 640×320 px is a few kilobytes.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Final

from bookkeeper.domain.money import round_kr

WIDTH: Final = 640
HEIGHT: Final = 320
MARGIN: Final = (56, 16, 16, 40)  # left, top, right, bottom
COLOURS: Final = (
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
)


class PillowChart:
    """The ChartRenderer port (application/morning.py) on Pillow."""

    def render(self, series: Mapping[str, Sequence[Decimal]], first_day: dt.date) -> bytes:
        """A PNG of `series` (source → NOK per day from `first_day`)."""
        from PIL import Image, ImageDraw  # loaded with the first chart, not at start (P7)

        image = Image.new("RGB", (WIDTH, HEIGHT), "white")
        draw = ImageDraw.Draw(image)
        left, top, right, bottom = MARGIN
        x0, y0, x1, y1 = left, top, WIDTH - right, HEIGHT - bottom
        draw.rectangle((x0, y0, x1, y1), outline=(160, 160, 160))
        days = max((len(v) for v in series.values()), default=0)
        peak = max((max(v, default=Decimal(0)) for v in series.values()), default=Decimal(0))
        scale = peak if peak > 0 else Decimal(1)
        draw.text((4, y0), f"{peak:.0f} kr", fill="black")
        draw.text((4, y1 - 10), "0 kr", fill="black")
        if days:
            last_day = first_day + dt.timedelta(days=days - 1)
            draw.text((x0, y1 + 6), f"{first_day:%d.%m}", fill="black")
            draw.text((x1 - 30, y1 + 6), f"{last_day:%d.%m}", fill="black")
        step = (x1 - x0) / max(days - 1, 1)
        for index, (source, values) in enumerate(sorted(series.items())):
            colour = COLOURS[index % len(COLOURS)]
            points = [
                (x0 + i * step, y1 - float(value / scale) * (y1 - y0))
                for i, value in enumerate(values)
            ]
            if len(points) > 1:
                draw.line(points, fill=colour, width=2)
            elif points:
                draw.ellipse(_dot(points[0]), fill=colour)
            total = sum(values, Decimal(0))
            draw.text((x0 + 8, y0 + 6 + 12 * index), f"{source}: {round_kr(total)} kr", fill=colour)
        out = io.BytesIO()
        image.save(out, format="PNG", optimize=True)
        return out.getvalue()


def _dot(point: tuple[float, float]) -> tuple[float, float, float, float]:
    x, y = point
    return (x - 2, y - 2, x + 2, y + 2)
