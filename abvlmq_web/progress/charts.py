"""Server-rendered SVG charts: no JavaScript, no CDN, they render anywhere a page does.

``score_chart`` draws scores against scan number over the rubric's grade bands, with the
rolling level (dashed) and, when given, the fitted learning curve (dotted).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from scoring.rubric import Rubric

BAND_COLORS = ["#fdecea", "#fff3e0", "#e8f5e9", "#e3f2fd"]  # Poor .. Excellent
LINE, LEVEL, FIT = "#1f6feb", "#6b7280", "#7c3aed"
FONT = 13  # user units of a 520-wide chart


def score_chart(
    points: Sequence[tuple[str, float]],
    *,
    rubric: Rubric,
    rolling: Sequence[float] = (),
    fit: tuple[float, float] | None = None,
    title: str = "",
    width: int = 520,
    height: int = 200,
    css_class: str = "trend",
) -> SafeString:
    """``points``: (label, score) in scan order; the label is shown on hover."""
    # labels at 13 user units: still about 9 px where a phone shows the chart 360 px wide
    left, right, top, bottom = 40, 10, 10, 30
    pw, ph = width - left - right, height - top - bottom
    n = max(len(points), 1)
    top_score = rubric.max_score

    def x(i: float) -> float:
        return left + (pw * (i - 1) / (n - 1) if n > 1 else pw / 2)

    def y(score: float) -> float:
        return top + ph * (1 - min(max(score, 0), top_score) / top_score)

    out = [
        f'<svg class="chart {css_class}" role="img" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    bounds = [g.min for g in rubric.grades] + [top_score]
    for k, g in enumerate(rubric.grades):
        y1, y0 = y(bounds[k + 1]), y(bounds[k])
        color = BAND_COLORS[min(k, len(BAND_COLORS) - 1)]
        out.append(
            f'<rect x="{left}" y="{y1:.1f}" width="{pw}" height="{y0 - y1:.1f}" fill="{color}">'
            f"<title>{escape(g.name)}</title></rect>"
        )
        out.append(
            f'<text x="{left + pw - 4}" y="{y1 + 14:.1f}" font-size="{FONT}" text-anchor="end" '
            f'fill="#6b7280">{escape(g.name)}</text>'
        )
    for s in range(0, int(top_score) + 1, 2):
        out.append(
            f'<text x="{left - 6}" y="{y(s) + 4:.1f}" font-size="{FONT}" text-anchor="end" '
            f'fill="#374151">{s}</text>'
        )
    out.append(
        f'<line x1="{left}" y1="{top + ph}" x2="{left + pw}" y2="{top + ph}" stroke="#9ca3af"/>'
    )
    axis = "scan 1" if len(points) <= 1 else f"scan number, 1 to {len(points)}"
    out.append(
        f'<text x="{left + pw / 2}" y="{height - 8}" font-size="{FONT}" text-anchor="middle" '
        f'fill="#6b7280">{axis}</text>'
    )
    if fit is not None and len(points) >= 2:
        a, b = fit
        steps = [1 + (n - 1) * k / 40 for k in range(41)]
        path = " ".join(f"{x(i):.1f},{y(a + b * math.log(i)):.1f}" for i in steps)
        out.append(
            f'<polyline class="fit" points="{path}" fill="none" stroke="{FIT}" '
            'stroke-width="1.5" stroke-dasharray="2 3"/>'
        )
    if len(rolling) >= 2:
        path = " ".join(f"{x(i + 1):.1f},{y(v):.1f}" for i, v in enumerate(rolling))
        out.append(
            f'<polyline class="level" points="{path}" fill="none" stroke="{LEVEL}" '
            'stroke-width="1.5" stroke-dasharray="6 4"/>'
        )
    if points:
        path = " ".join(f"{x(i + 1):.1f},{y(s):.1f}" for i, (_, s) in enumerate(points))
        out.append(
            f'<polyline class="scores" points="{path}" fill="none" stroke="{LINE}" '
            'stroke-width="2"/>'
        )
        for i, (label, s) in enumerate(points):
            out.append(
                f'<circle cx="{x(i + 1):.1f}" cy="{y(s):.1f}" r="3" fill="{LINE}">'
                f"<title>{escape(label)}: {s:g}</title></circle>"
            )
    out.append("</svg>")
    return mark_safe("".join(out))


def rate_bars(
    rows: Sequence[tuple[str, float | None, int]], *, width: int = 520, title: str = "Rates"
) -> SafeString:
    """Horizontal bars of rates in [0, 1] (e.g. agreement per month); rows: (label, rate, n)."""
    bar_h, gap, label_w = 18, 6, 140
    height = max(1, len(rows)) * (bar_h + gap) + 4
    pw = width - label_w - 90
    out = [
        f'<svg class="chart bars" role="img" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for k, (label, rate, n) in enumerate(rows):
        yk = 2 + k * (bar_h + gap)
        out.append(
            f'<text x="{label_w - 6}" y="{yk + 13}" font-size="{FONT}" text-anchor="end">'
            f"{escape(label)}</text>"
        )
        out.append(f'<rect x="{label_w}" y="{yk}" width="{pw}" height="{bar_h}" fill="#eef2f7"/>')
        if rate is not None:
            out.append(
                f'<rect x="{label_w}" y="{yk}" width="{pw * rate:.1f}" height="{bar_h}" '
                f'fill="{LINE}"><title>{rate:.0%} of {n}</title></rect>'
            )
        text = f"{rate:.0%} (n={n})" if rate is not None else "-"
        out.append(f'<text x="{label_w + pw + 6}" y="{yk + 12}" font-size="{FONT}">{text}</text>')
    out.append("</svg>")
    return mark_safe("".join(out))
