"""Server-rendered SVG charts of the scores (no JavaScript: the CSP forbids inline scripts).

Only presentation attributes are used (no `style`), so the SVG passes a strict CSP inline in
HTML and renders the same in WeasyPrint.
"""

from __future__ import annotations

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

_OK, _WARN, _BAD, _INK, _GRID = "#1e7b34", "#a05a00", "#b3261e", "#1d2733", "#d8dee4"
_LABEL_WIDTH = 230
_BAR_WIDTH = 360
_ROW = 24


def _colour(score: int) -> str:
    return _OK if score >= 80 else _WARN if score >= 50 else _BAD


def theme_bars(overall: int, rows: list[tuple[str, int]]) -> SafeString:
    """Horizontal bars: the overall score first, then one bar per theme, each out of 100."""
    entries = [("Score global", overall), *rows]
    height = _ROW * len(entries) + 10
    width = _LABEL_WIDTH + _BAR_WIDTH + 50
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="Scores de conformité par thème">'
    ]
    for index, (label, score) in enumerate(entries):
        y = 5 + index * _ROW
        length = round(_BAR_WIDTH * max(0, min(score, 100)) / 100)
        weight = ' font-weight="bold"' if index == 0 else ""
        parts.append(
            f'<text x="{_LABEL_WIDTH - 8}" y="{y + 15}" text-anchor="end" font-size="13" '
            f'fill="{_INK}"{weight}>{escape(label)}</text>'
            f'<rect x="{_LABEL_WIDTH}" y="{y + 3}" width="{_BAR_WIDTH}" height="16" '
            f'fill="{_GRID}"/>'
            f'<rect x="{_LABEL_WIDTH}" y="{y + 3}" width="{length}" height="16" '
            f'fill="{_colour(score)}"/>'
            f'<text x="{_LABEL_WIDTH + _BAR_WIDTH + 6}" y="{y + 15}" font-size="13" '
            f'fill="{_INK}">{score}</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every label is escaped above


def history_line(points: list[tuple[str, int]]) -> SafeString:
    """The overall score over time (oldest first); a single point still draws a dot."""
    width, height, left, bottom = 640, 180, 40, 30
    plot_w, plot_h = width - left - 20, height - bottom - 10
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="Historique du score global">'
    ]
    for tick in (0, 50, 100):
        y = 10 + plot_h - plot_h * tick / 100
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - 20}" y2="{y:.1f}" stroke="{_GRID}"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="{_INK}">{tick}</text>'
        )
    if points:
        step = plot_w / max(len(points) - 1, 1)
        coords = [
            (left + index * step, 10 + plot_h - plot_h * score / 100)
            for index, (_, score) in enumerate(points)
        ]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
        parts.append(f'<polyline points="{path}" fill="none" stroke="#0b5cad" stroke-width="2"/>')
        for (x, y), (label, score) in zip(coords, points, strict=True):
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#0b5cad">'
                f"<title>{escape(label)} : {score}</title></circle>"
            )
        parts.append(
            f'<text x="{left}" y="{height - 8}" font-size="11" fill="{_INK}">'
            f"{escape(points[0][0])}</text>"
            f'<text x="{width - 20}" y="{height - 8}" text-anchor="end" font-size="11" '
            f'fill="{_INK}">{escape(points[-1][0])}</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - labels are escaped above
