"""The SMS rate and revenue per day as an SVG drawn on the server: revenue as bars on the
left axis, the share of issued numbers that received an SMS as a line on the right one."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any

WIDTH, HEIGHT = 760, 300
LEFT, RIGHT, TOP, BOTTOM = 64, 56, 24, 48


@dataclass(frozen=True)
class Day:
    day: str
    issued: int
    sms_received: int
    revenue: int

    @property
    def sms_rate(self) -> float | None:
        return self.sms_received / self.issued if self.issued else None


def days_of(daily_rows: list[dict[str, Any]]) -> list[Day]:
    """`query daily` rows summed over providers, services and countries, by day."""
    totals: dict[str, list[int]] = {}
    for row in daily_rows:
        sums = totals.setdefault(row["day"], [0, 0, 0])
        sums[0] += row["issued"]
        sums[1] += row["sms_received"]
        sums[2] += row["revenue"]
    return [Day(day, *sums) for day, sums in sorted(totals.items())]


def _nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 5 × 10^n at or above `value` (at least 1)."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def daily_chart(days: list[Day]) -> str:
    """The chart's SVG element (text escaped; nothing but numbers and dates in it)."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top = _nice_ceiling(max((d.revenue for d in days), default=0))
    slot = plot_w / max(len(days), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{WIDTH}" '
        f'height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        'aria-labelledby="chart-title">',
        '<title id="chart-title">Revenue and SMS rate per day</title>',
        f'<rect class="plot" x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}"/>',
    ]
    parts += _axes(top, plot_w, plot_h)
    points = []
    for index, day in enumerate(days):
        x = LEFT + slot * index
        height = plot_h * day.revenue / top
        label = escape(day.day)
        parts.append(
            f'<rect class="revenue" data-day="{label}" x="{x + slot * 0.15:.1f}" '
            f'y="{TOP + plot_h - height:.1f}" width="{slot * 0.7:.1f}" height="{height:.1f}">'
            f"<title>{label}: revenue {day.revenue}</title></rect>"
        )
        if len(days) <= 16 or index % max(1, len(days) // 8) == 0:
            parts.append(f'<text class="day" x="{x + slot / 2:.1f}" y="{HEIGHT - BOTTOM + 16}" '
                         f'text-anchor="middle">{label[5:]}</text>')
        if day.sms_rate is not None:
            points.append((x + slot / 2, TOP + plot_h * (1 - day.sms_rate), label, day))
    if points:
        path = " ".join(f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}"
                        for i, (x, y, _, _) in enumerate(points))
        parts.append(f'<path class="sms-rate" d="{path}"/>')
        parts += [
            f'<circle class="sms-rate-point" cx="{x:.1f}" cy="{y:.1f}" r="3.5">'
            f"<title>{label}: SMS rate {day.sms_rate:.1%} ({day.sms_received} of "
            f"{day.issued} issued)</title></circle>"
            for x, y, label, day in points
        ]
    parts += _legend()
    parts.append("</svg>")
    return "".join(parts)


def _axes(top: int, plot_w: int, plot_h: int) -> list[str]:
    parts = []
    for tick in range(5):
        y = TOP + plot_h * (1 - tick / 4)
        parts.append(f'<line class="grid" x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + plot_w}" '
                     f'y2="{y:.1f}"/>')
        parts.append(f'<text class="axis revenue-axis" x="{LEFT - 6}" y="{y + 4:.1f}" '
                     f'text-anchor="end">{top * tick // 4}</text>')
        parts.append(f'<text class="axis rate-axis" x="{LEFT + plot_w + 6}" y="{y + 4:.1f}">'
                     f"{tick * 25}%</text>")
    return parts


def _legend() -> list[str]:
    y = HEIGHT - 12
    return [
        f'<rect class="revenue-key" x="{LEFT}" y="{y - 9}" width="12" height="10"/>',
        f'<text class="legend" x="{LEFT + 18}" y="{y}">revenue (minor units, left)</text>',
        f'<line class="sms-rate" x1="{LEFT + 230}" y1="{y - 4}" x2="{LEFT + 252}" '
        f'y2="{y - 4}"/>',
        f'<text class="legend" x="{LEFT + 258}" y="{y}">SMS rate: issued numbers that '
        "received an SMS (right)</text>",
    ]
