"""Small SVG charts drawn on the server: no script, no external library, readable without colour."""

from __future__ import annotations

from markupsafe import Markup, escape

STATUS_COLOURS = {"on-track": "var(--ok)", "at-risk": "var(--warn, #b7791f)", "blocked": "var(--danger)",
                  "done": "var(--muted)"}


def status_chart(counts: list[tuple[str, int]], width: int = 360, bar: int = 22, gap: int = 8) -> Markup:
    """Horizontal bars, one per status, with the count written beside each."""
    label_width, total = 90, max([n for _, n in counts] + [1])
    height = len(counts) * (bar + gap)
    rows = []
    for i, (status, n) in enumerate(counts):
        y = i * (bar + gap)
        w = 0 if n == 0 else max(2, int((width - label_width - 40) * n / total))
        colour = STATUS_COLOURS.get(status, "var(--accent)")
        rows.append(
            f'<text x="0" y="{y + bar * 0.7:.0f}" class="chart-label">{escape(status)}</text>'
            f'<rect x="{label_width}" y="{y}" width="{w}" height="{bar}" rx="3" fill="{colour}">'
            f"<title>{escape(status)}: {n}</title></rect>"
            f'<text x="{label_width + w + 6}" y="{y + bar * 0.7:.0f}" class="chart-value">{n}</text>')
    summary = ", ".join(f"{n} {s}" for s, n in counts)
    return Markup(f'<svg class="status-chart" role="img" aria-label="Pages by status: {escape(summary)}" '
                  f'viewBox="0 0 {width} {max(height, 1)}" width="{width}" height="{height}">{"".join(rows)}</svg>')


def sparkline(values: tuple[int, ...] | list[int], width: int = 96, height: int = 20) -> Markup:
    """Edits per week as small bars (oldest left); the title says the numbers."""
    n = len(values) or 1
    top = max(list(values) + [1])
    step = width / n
    bars = []
    for i, v in enumerate(values):
        h = 0 if v == 0 else max(2, round((height - 2) * v / top))
        bars.append(f'<rect x="{i * step + 1:.1f}" y="{height - h}" width="{step - 2:.1f}" height="{h}" rx="1"/>')
    total = sum(values)
    label = f"{total} edit{'s' if total != 1 else ''} in the last {n} weeks"
    return Markup(f'<svg class="sparkline" role="img" aria-label="{label}" viewBox="0 0 {width} {height}" '
                  f'width="{width}" height="{height}"><title>{label}: {", ".join(map(str, values))}</title>'
                  f'<line x1="0" y1="{height - 0.5}" x2="{width}" y2="{height - 0.5}" class="baseline"/>'
                  f'{"".join(bars)}</svg>')
