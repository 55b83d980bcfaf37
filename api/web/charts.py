"""Charts drawn on the server as inline SVG (no script, no external service), each with a
title and a description for screen readers; the page shows the figures in a table too."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup, escape

MALE = "#0b4f8a"
FEMALE = "#a4336a"


def _band(low: int | None, high: int | None) -> str:
    if low is None:
        return f"Dưới {high + 1 if high is not None else ''}"
    if high is None:
        return f"Từ {low}"
    return f"{low}–{high}"


def band_label(row: dict[str, Any]) -> str:
    return _band(row["low"], row["high"])


def age_pyramid(rows: list[dict[str, Any]], *, chart_id: str = "age-gender") -> Markup:
    """Headcount by age band and gender as a population pyramid: men to the left, women
    to the right, the youngest band at the bottom."""
    width, label_w, row_h, top, bottom = 620, 70, 34, 34, 26
    half = (width - label_w) / 2 - 40
    biggest = max([max(r["male"], r["female"]) for r in rows] + [1])
    height = top + row_h * len(rows) + bottom
    centre_left = 40 + half
    centre_right = centre_left + label_w
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc">',
        f'<title id="{chart_id}-title">Cơ cấu theo độ tuổi và giới tính</title>',
    ]
    described = "; ".join(f"{band_label(r)} tuổi: {r['male']} nam, {r['female']} nữ" for r in rows)
    parts.append(f'<desc id="{chart_id}-desc">{escape(described)}</desc>')
    parts.append(
        f'<text x="{centre_left - 4}" y="18" text-anchor="end" font-size="13" '
        f'font-weight="600" fill="{MALE}">Nam</text>'
        f'<text x="{centre_right + 4}" y="18" font-size="13" font-weight="600" '
        f'fill="{FEMALE}">Nữ</text>'
    )
    for index, row in enumerate(reversed(rows)):
        y = top + index * row_h
        male_w = half * row["male"] / biggest
        female_w = half * row["female"] / biggest
        mid = y + (row_h - 8) / 2 + 4
        parts.append(
            f'<text x="{centre_left + label_w / 2}" y="{mid + 5}" text-anchor="middle" '
            f'font-size="13" fill="#1a1f2b">{escape(band_label(row))}</text>'
            f'<rect x="{centre_left - male_w:.1f}" y="{y + 4}" width="{male_w:.1f}" '
            f'height="{row_h - 8}" fill="{MALE}"/>'
            f'<rect x="{centre_right}" y="{y + 4}" width="{female_w:.1f}" '
            f'height="{row_h - 8}" fill="{FEMALE}"/>'
            f'<text x="{centre_left - male_w - 4:.1f}" y="{mid + 5}" text-anchor="end" '
            f'font-size="12" fill="#1a1f2b">{row["male"]}</text>'
            f'<text x="{centre_right + female_w + 4:.1f}" y="{mid + 5}" font-size="12" '
            f'fill="#1a1f2b">{row["female"]}</text>'
        )
    axis_y = top + row_h * len(rows) + 4
    parts.append(
        f'<line x1="40" y1="{axis_y}" x2="{width - 40}" y2="{axis_y}" stroke="#6b7385"/>'
        f'<text x="{width / 2}" y="{axis_y + 18}" text-anchor="middle" font-size="12" '
        f'fill="#4a5263">Số người theo nhóm tuổi</text>'
    )
    parts.append("</svg>")
    return Markup("".join(parts))
