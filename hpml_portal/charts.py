"""Charts drawn on the server as SVG and HTML: nothing is loaded from the internet (the
platform runs offline), and a page shows its numbers without scripts. Every label is escaped:
class names and metric names come from people's data."""

import math

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

# One colour per series, told apart in the legend by name and by dash for colour-blind readers.
PALETTE = ["#2f6db5", "#d9822b", "#3c9d5d", "#b5432f", "#7a4fb5", "#5f6b7a"]
DASHES = ["", "6 3", "2 3", "8 3 2 3"]


def line_chart(
    series: dict[str, list[float | None]], *, title: str, width: int = 560, height: int = 240
) -> SafeString:
    """Lines over a shared x axis (1..n, epochs), each series by name; missing values (None,
    NaN) break a line. An empty chart says so."""
    points = [v for values in series.values() for v in values if _number(v)]
    if not points:
        return format_html('<p class="help">{}: nothing recorded yet</p>', title)
    low, high = _range(points)
    count = max(len(values) for values in series.values())
    frame = _Frame(width, height, count, low, high)
    lines = [
        _polyline(frame, values, PALETTE[n % len(PALETTE)], DASHES[n % len(DASHES)])
        for n, values in enumerate(series.values())
    ]
    return format_html(
        '<figure class="hpml-chart"><svg xmlns="http://www.w3.org/2000/svg" role="img" '
        'viewBox="0 0 {} {}" width="{}" height="{}" aria-label="{}">{}{}</svg>'
        "<figcaption>{}: {}</figcaption></figure>",
        width,
        height,
        width,
        height,
        title,
        frame.axes(),
        mark_safe("".join(lines)),  # noqa: S308 (built from numbers and escaped colours)
        title,
        _legend(series),
    )


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _range(points: list[float]) -> tuple[float, float]:
    low, high = min(points), max(points)
    if high == low:
        return low - 0.5, high + 0.5
    pad = (high - low) * 0.05
    return low - pad, high + pad


class _Frame:
    """Where a value lands: margins for the tick labels, then the plot area."""

    left, right, top, bottom = 48, 12, 10, 26

    def __init__(self, width: int, height: int, count: int, low: float, high: float):
        self.width, self.height, self.count, self.low, self.high = width, height, count, low, high

    def x(self, index: int) -> float:
        span = self.width - self.left - self.right
        return self.left + (span * index / (self.count - 1) if self.count > 1 else span / 2)

    def y(self, value: float) -> float:
        span = self.height - self.top - self.bottom
        return self.top + span * (self.high - value) / (self.high - self.low)

    def axes(self) -> SafeString:
        ticks = [self.low + (self.high - self.low) * n / 4 for n in range(5)]
        labels = format_html_join(
            "",
            '<text x="{}" y="{}" font-size="10" text-anchor="end" fill="currentColor">{}</text>'
            '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="currentColor" stroke-opacity="0.15"/>',
            (
                (
                    self.left - 4,
                    f"{self.y(t) + 3:.1f}",
                    f"{t:.3g}",
                    self.left,
                    self.width - self.right,
                    f"{self.y(t):.1f}",
                    f"{self.y(t):.1f}",
                )
                for t in ticks
            ),
        )
        bottom = self.height - self.bottom
        return format_html(
            '{}<text x="{}" y="{}" font-size="10" fill="currentColor">1</text>'
            '<text x="{}" y="{}" font-size="10" text-anchor="end" fill="currentColor">{}</text>',
            labels,
            self.left,
            bottom + 14,
            self.width - self.right,
            bottom + 14,
            self.count,
        )


def _polyline(frame: _Frame, values: list, colour: str, dash: str) -> str:
    runs, current = [], []
    for index, value in enumerate(values):
        if _number(value):
            current.append(f"{frame.x(index):.1f},{frame.y(value):.1f}")
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return "".join(
        f'<polyline fill="none" stroke="{colour}" stroke-width="2" stroke-dasharray="{dash}" '
        f'points="{" ".join(run)}"/>'
        for run in runs
    )


def _legend(series: dict) -> SafeString:
    return format_html_join(
        ", ",
        '<span style="color:{}">{}{}</span>',
        (
            (PALETTE[n % len(PALETTE)], name, " (dashed)" if DASHES[n % len(DASHES)] else "")
            for n, name in enumerate(series)
        ),
    )


def heat_table(matrix: list[list[int]], labels: list[str], *, caption: str) -> SafeString:
    """A confusion matrix as a table (rows: true class; columns: predicted), each cell shaded
    by its share of its row."""
    head = format_html_join("", "<th scope='col'>{}</th>", ((label,) for label in labels))
    rows = format_html_join(
        "",
        "<tr><th scope='row'>{}</th>{}</tr>",
        ((label, _cells(row)) for label, row in zip(labels, matrix, strict=False)),
    )
    return format_html(
        '<table class="hpml-heat"><caption>{}</caption><thead><tr><th>true \\ predicted</th>{}'
        "</tr></thead><tbody>{}</tbody></table>",
        caption,
        head,
        rows,
    )


def _cells(row: list[int]) -> SafeString:
    total = sum(row) or 1
    return format_html_join(
        "",
        '<td style="background:rgba(47,109,181,{})">{}</td>',
        ((f"{0.85 * value / total:.2f}", value) for value in row),
    )


def key_value_table(values: dict, *, caption: str) -> SafeString:
    """Names and values, one row each; numbers rounded for reading."""
    if not values:
        return format_html('<p class="help">{}: none</p>', caption)
    rows = format_html_join(
        "",
        "<tr><th scope='row'>{}</th><td>{}</td></tr>",
        ((k, readable(v)) for k, v in values.items()),
    )
    return format_html("<table><caption>{}</caption><tbody>{}</tbody></table>", caption, rows)


def metric_summary(metrics: dict, *, caption: str) -> SafeString:
    """A run's or a version's single-number metrics (per-class tables and matrices left out)."""
    scalars = {k: v for k, v in metrics.items() if not isinstance(v, dict | list)}
    return key_value_table(scalars, caption=caption)


def readable(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    if value is None:
        return "-"
    return str(value)
