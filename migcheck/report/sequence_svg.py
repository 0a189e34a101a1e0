"""Drawing a message sequence chart as inline SVG (no scripts, no external resources).

Lifelines are columns with the actor's name on top; each step is a row: an arrow from the
actor to the actors it concerns, or a box on the actor's lifeline, with the step number,
the action and the variables it changed. The violating step is red; a lasso's loop is a
dashed frame.
"""

from __future__ import annotations

from .markup import CHAR_WIDTH, FONT, FONT_SIZE, LINE_HEIGHT, clip, esc, text_width
from .sequence import Chart, Message

MAX_CHANGES = 6  # changed variables shown per step; the numbered steps list them all
MAX_CHARS = 52  # characters per label line
MARGIN = 16
HEADER = 52
PALETTE = ("#1f5fa8", "#2e7d32", "#8e24aa", "#b26a00", "#00838f", "#6d4c41", "#455a64")
VIOLATION = "#c62828"


def message_lines(m: Message) -> list[str]:
    lines = [f"{m.state}. {m.label}"] + [c.text for c in m.changes[:MAX_CHANGES]]
    if len(m.changes) > MAX_CHANGES:
        lines.append(f"… and {len(m.changes) - MAX_CHANGES} more")
    if not m.changes:
        lines.append("(nothing changed)")
    return [clip(line, MAX_CHARS) for line in lines]


def chart_svg(chart: Chart) -> str:
    """The chart as one ``<svg>`` element sized in pixels."""
    lanes = chart.lifelines
    widest = max((text_width(line) for m in chart.messages for line in message_lines(m)), default=120)
    lane = max(170.0, min(widest + 34, MAX_CHARS * CHAR_WIDTH + 34))
    ending = "✗ " + chart.ending
    width = max(2 * MARGIN + lane * len(lanes), text_width(ending) + 2 * MARGIN + 40)
    x = {a: MARGIN + lane * k + lane / 2 for k, a in enumerate(lanes)}
    color = {a: PALETTE[k % len(PALETTE)] for k, a in enumerate(lanes)}

    body: list[str] = []
    y = HEADER + 8
    body.append(_note(MARGIN + 4, y, width - 2 * MARGIN - 8, "State 1: initial state", "#555", "#f4f4f4"))
    y += 32
    loop_top: float | None = None
    for m in chart.messages:
        if m.in_loop and loop_top is None:
            loop_top = y
            y += 20  # room for the loop's tab
        lines = message_lines(m)
        ink = VIOLATION if m.last else color.get(m.actor, "#333")
        if m.targets:
            y = _arrow(body, m, lines, x, y, ink)
        else:
            y = _box(body, m, lines, x.get(m.actor, MARGIN), y, ink)
    if loop_top is not None:
        frame = (f'<rect x="{MARGIN - 6}" y="{loop_top:.0f}" width="{width - 2 * MARGIN + 12:.0f}" '
                 f'height="{y - loop_top + 4:.0f}" fill="none" stroke="#777" stroke-dasharray="6 4"/>')
        tab = (f"loop: back to state {chart.loop}, forever" if not chart.stutters
               else f"state {chart.loop} repeats forever")
        body.insert(0, frame + _text(MARGIN, loop_top + 14, tab, "#555", bold=True))
        y += 8
    y += 6
    body.append(_note(MARGIN + 4, y, width - 2 * MARGIN - 8, ending, VIOLATION, "#fdecea"))
    height = y + 40

    head = []
    for a in lanes:
        bw = lane - 24
        head.append(f'<rect x="{x[a] - bw / 2:.0f}" y="10" width="{bw:.0f}" height="30" rx="4" '
                    f'fill="{color[a]}"/>')
        head.append(f'<text x="{x[a]:.0f}" y="30" text-anchor="middle" fill="#fff" font-weight="bold">'
                    f"{esc(clip(chart.title(a), int(bw / CHAR_WIDTH)))}</text>")
        head.append(f'<line x1="{x[a]:.0f}" y1="40" x2="{x[a]:.0f}" y2="{height - 8:.0f}" '
                    f'stroke="{color[a]}" stroke-opacity="0.5" stroke-dasharray="4 4"/>')
    label = f"sequence chart: {chart.property} in {chart.model} [{chart.variant}]"
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width:.0f}" '
            f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
            f'aria-label="{esc(label)}" font-family="{esc(FONT)}" font-size="{FONT_SIZE}">'
            f"<title>{esc(label)}</title>" + "".join(head) + "".join(body) + "</svg>")


def _arrow(body: list[str], m: Message, lines: list[str], x: dict[str, float], y: float, ink: str) -> float:
    start = x.get(m.actor, MARGIN)
    ends = [x[t] for t in m.targets if t in x]
    left = min([start, *ends])
    for k, line in enumerate(lines):
        body.append(_text(left + 8, y + LINE_HEIGHT * (k + 1) - 3, line, ink, bold=k == 0, halo=True))
    ay = y + LINE_HEIGHT * len(lines) + 6
    for side in ([e for e in ends if e > start], [e for e in ends if e < start]):
        if not side:
            continue
        far = max(side, key=lambda e: abs(e - start))
        body.append(f'<line x1="{start:.0f}" y1="{ay:.0f}" x2="{far:.0f}" y2="{ay:.0f}" stroke="{ink}" '
                    f'stroke-width="{2 if m.last else 1.5}"/>')
        for e in side:
            d = 1 if e > start else -1
            body.append(f'<polygon points="{e:.0f},{ay:.0f} {e - 9 * d:.0f},{ay - 4.5:.1f} '
                        f'{e - 9 * d:.0f},{ay + 4.5:.1f}" fill="{ink}"/>')
    body.append(f'<circle cx="{start:.0f}" cy="{ay:.0f}" r="3" fill="{ink}"/>')
    return ay + 14


def _box(body: list[str], m: Message, lines: list[str], cx: float, y: float, ink: str) -> float:
    bw = max(text_width(line) for line in lines) + 16
    bh = LINE_HEIGHT * len(lines) + 8
    fill = "#fdecea" if m.last else "#fff"
    body.append(f'<rect x="{cx - bw / 2:.0f}" y="{y + 2:.0f}" width="{bw:.0f}" height="{bh:.0f}" rx="3" '
                f'fill="{fill}" stroke="{ink}" stroke-width="{2 if m.last else 1.2}"/>')
    for k, line in enumerate(lines):
        body.append(_text(cx - bw / 2 + 8, y + 2 + LINE_HEIGHT * (k + 1) - 2, line, ink, bold=k == 0))
    return y + bh + 12


def _note(x0: float, y: float, w: float, text: str, ink: str, fill: str) -> str:
    return (f'<rect x="{x0:.0f}" y="{y:.0f}" width="{w:.0f}" height="24" rx="3" fill="{fill}" '
            f'stroke="{ink}"/>' + _text(x0 + w / 2, y + 16, text, ink, bold=True, anchor="middle"))


def _text(x0: float, y: float, text: str, ink: str, *, bold: bool = False, halo: bool = False,
          anchor: str = "start") -> str:
    style = ' style="paint-order:stroke;stroke:#fff;stroke-width:3px"' if halo else ""
    weight = ' font-weight="bold"' if bold else ""
    return (f'<text x="{x0:.0f}" y="{y:.0f}" fill="{ink}" text-anchor="{anchor}"{weight}{style}>'
            f"{esc(text)}</text>")
