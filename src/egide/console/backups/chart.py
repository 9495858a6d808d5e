"""A small server-rendered SVG bar chart: no JavaScript, nothing from a CDN (strict CSP)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape


def bar_chart(values: Sequence[float], labels: Sequence[str], *, title: str, unit: str) -> str:
    """An accessible SVG with one bar per value, oldest on the left."""
    width, height, gap = 600, 160, 2
    peak = max(values, default=0) or 1
    bar = max((width - gap * len(values)) / max(len(values), 1), 1)
    bars = []
    for index, (value, label) in enumerate(zip(values, labels, strict=True)):
        bar_height = value / peak * (height - 20)
        x = index * (bar + gap)
        bars.append(
            f'<rect x="{x:.1f}" y="{height - bar_height:.1f}" width="{bar:.1f}" '
            f'height="{bar_height:.1f}" fill="#0b5cad"><title>{escape(label)} : '
            f"{value:,.1f} {escape(unit)}</title></rect>"
        )
    return (
        f'<svg role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" '
        f'class="chart" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
        + "".join(bars)
        + "</svg>"
    )
