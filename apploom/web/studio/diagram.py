"""A workflow drawn for the studio: its states as boxes in layers, each layer the states
first reached in as many steps from the initial one (a breadth-first walk), and its
transitions as arrows between them. Plain numbers for a server-rendered SVG: no layout
library, no script, the same drawing for the same definition."""

from __future__ import annotations

from dataclasses import dataclass

from apploom.engine.workflow.definition import (
    Transition,
    Workflow,
    dead_end_states,
    unreachable_states,
)

BOX_W, BOX_H = 128, 40
COL_GAP, ROW_GAP = 84, 84  # the rows' gap leaves room for the arrows' labels
MARGIN = 24
LABEL_ROOM = 16  # beside a curve's controls, as a curve's label may sit past them
LINE = 16  # a label's height, with room between two
BEND = 40  # how far apart two arrows between the same pair of boxes curve


@dataclass(frozen=True)
class Box:
    state: str
    layer: int
    x: float
    y: float
    warnings: tuple[str, ...] = ()  # "unreachable", "dead_end"

    width, height = BOX_W, BOX_H

    @property
    def centre(self) -> tuple[float, float]:
        return self.x + BOX_W / 2, self.y + BOX_H / 2


@dataclass(frozen=True)
class Arrow:
    transition: str
    source: str
    target: str
    path: str  # an SVG path's d
    label_x: float
    label_y: float
    label_width: float
    controls: tuple[tuple[float, float], ...] = ()  # the curve stays inside them and its ends


@dataclass(frozen=True)
class Diagram:
    boxes: dict[str, Box]
    arrows: tuple[Arrow, ...]
    left: float  # the drawing's extent, arrows that curve round the boxes included
    top: float
    width: float
    height: float

    @property
    def view_box(self) -> str:
        return f"{self.left:.0f} {self.top:.0f} {self.width:.0f} {self.height:.0f}"


def layers(workflow: Workflow) -> list[list[str]]:
    """The states by their distance from the initial one; those no transition reaches
    come last, in a layer of their own."""
    placed = {workflow.initial: 0}
    found = [[workflow.initial]]
    while True:
        reached = [
            t.target
            for state in found[-1]
            for t in workflow.transitions.values()
            if t.leaves(state) and t.target in workflow.states
        ]
        new = list(dict.fromkeys(s for s in reached if s not in placed))
        if not new:
            break
        placed.update((s, len(found)) for s in new)
        found.append(new)
    stranded = [s for s in workflow.states if s not in placed]
    return found + ([stranded] if stranded else [])


def draw(workflow: Workflow, language: str = "en") -> Diagram:
    """Every state placed, every transition (from each of its sources) an arrow, its
    label (in ``language``) where no other label is."""
    rows = layers(workflow)
    widest = max(len(row) for row in rows)
    width = 2 * MARGIN + widest * BOX_W + (widest - 1) * COL_GAP
    warned: dict[str, list[str]] = {}
    for name in unreachable_states(workflow):
        warned.setdefault(name, []).append("unreachable")
    for name in dead_end_states(workflow):
        warned.setdefault(name, []).append("dead_end")
    boxes = {}
    for depth, row in enumerate(rows):
        left = (width - len(row) * BOX_W - (len(row) - 1) * COL_GAP) / 2
        for i, state in enumerate(row):
            boxes[state] = Box(
                state,
                depth,
                left + i * (BOX_W + COL_GAP),
                MARGIN + depth * (BOX_H + ROW_GAP),
                tuple(warned.get(state, ())),
            )
    height = 2 * MARGIN + len(rows) * BOX_H + (len(rows) - 1) * ROW_GAP
    arrows = tuple(_arrows(workflow, boxes, width / 2, language))
    xs = [0.0, width]
    xs += [x + side * LABEL_ROOM for a in arrows for x, _ in a.controls for side in (-1, 1)]
    xs += [a.label_x + side * a.label_width / 2 for a in arrows for side in (-1, 1)]
    ys = [0.0, height] + [y for a in arrows for _, y in a.controls]
    left, top = min(xs), min(ys)
    return Diagram(boxes, arrows, left, top, max(xs) - left, max(ys) - top)


def _sources(workflow: Workflow, t: Transition) -> list[str]:
    """The states a transition leaves; ``any`` is every state still open but its target."""
    if any(s == "any" for s in t.sources):
        return [s.name for s in workflow.states.values() if not s.final and s.name != t.target]
    return [s for s in t.sources if s in workflow.states]


def _arrows(workflow: Workflow, boxes: dict[str, Box], middle: float, language: str) -> list[Arrow]:
    pairs: dict[frozenset, int] = {}  # arrows drawn so far between two boxes, either way
    arrows: list[Arrow] = []
    for t in workflow.transitions.values():
        if t.target not in boxes:
            continue
        for source in _sources(workflow, t):
            pair = frozenset((source, t.target))
            nth = pairs.get(pair, 0)
            pairs[pair] = nth + 1
            a, b = boxes[source], boxes[t.target]
            curve = _curve(a, b, nth, middle)
            side = (nth + 1) // 2 * (1 if nth % 2 else -1)
            width = _text_width(t.label.get(language))
            x, y = _label_place(curve, 0.5 + side * 0.18, width, arrows)
            p0, p1, p2, p3 = curve
            d = "M {:.0f} {:.0f} C {:.0f} {:.0f}, {:.0f} {:.0f}, {:.0f} {:.0f}".format(
                *p0, *p1, *p2, *p3
            )
            arrows.append(Arrow(t.name, source, t.target, d, x, y, width, (p1, p2)))
    return arrows


def _label_place(
    curve: tuple, preferred: float, width: float, placed: list[Arrow]
) -> tuple[int, int]:
    """Where on the curve its label goes: at ``preferred`` (a fraction of the way),
    or nearer either end if another label is already there (two arrows that cross)."""
    spots = [_at(curve, preferred + shift) for shift in (0, -0.2, 0.2, -0.3, 0.3)]
    free = (
        (x, y)
        for x, y in spots
        if all(
            abs(x - a.label_x) > (width + a.label_width) / 2 or abs(y - a.label_y) > LINE
            for a in placed
        )
    )
    return next(free, spots[0])


def _text_width(text: str) -> float:
    """About how wide a label is drawn at 12px: a Chinese character twice a Latin one."""
    return sum(12.5 if ord(c) > 0x2E80 else 6.8 for c in text) + 6


def _at(curve: tuple, at: float) -> tuple[int, int]:
    """The point ``at`` of the way along a cubic curve."""
    p0, p1, p2, p3 = curve
    x, y = (
        (1 - at) ** 3 * p0[i]
        + 3 * (1 - at) ** 2 * at * p1[i]
        + 3 * (1 - at) * at**2 * p2[i]
        + at**3 * p3[i]
        for i in (0, 1)
    )
    return round(x), round(y)


def _curve(a: Box, b: Box, nth: int, middle: float) -> tuple:
    """The curve (start, two controls, end) from box ``a`` to box ``b``; the ``nth``
    between them bends further out, alternately to either side, so parallel arrows
    stay apart."""
    side = (nth + 1) // 2 * (1 if nth % 2 else -1)
    (ax, ay), (bx, by) = a.centre, b.centre
    if a.state == b.state:  # a loop on the right of the box
        x, y = a.x + BOX_W, ay
        return (x, y - 8), (x + 46, y - 30), (x + 46, y + 30), (x, y + 8)
    if b.layer < a.layer and abs(ax - bx) < BOX_W:  # back up a column: round its side
        outward = 1 if ax + bx >= 2 * middle else -1  # round the nearer edge
        bend = outward * (BOX_W * 0.45 + nth * BEND / 2)  # the later, the wider
        p0, p3 = (ax + outward * BOX_W / 4, a.y), (bx + outward * BOX_W / 4, b.y + BOX_H)
        return p0, (p0[0] + bend, p0[1] - ROW_GAP), (p3[0] + bend, p3[1] + ROW_GAP), p3
    if b.layer != a.layer:  # down (or up, across): from edge to facing edge
        down = 1 if b.layer > a.layer else -1
        p0, p3 = (ax, ay + down * BOX_H / 2), (bx, by - down * BOX_H / 2)
        return p0, *_bent(p0, p3, (0, down * ROW_GAP / 2), side * BEND), p3
    towards = 1 if bx > ax else -1  # within one layer
    if abs(bx - ax) > BOX_W + COL_GAP:  # boxes between: under them, bottom to bottom
        p0 = (ax + towards * BOX_W / 4, a.y + BOX_H)
        p3 = (bx - towards * BOX_W / 4, b.y + BOX_H)
        low = ROW_GAP * 0.6 + abs(side) * BEND / 2
        return p0, (p0[0], p0[1] + low), (p3[0], p3[1] + low), p3
    p0, p3 = (ax + towards * BOX_W / 2, ay), (bx - towards * BOX_W / 2, by)  # side to side
    return p0, *_bent(p0, p3, (towards * 20, 0), side * BEND), p3


Point = tuple[float, float]


def _bent(p0: Point, p3: Point, out: Point, bend: float) -> tuple[Point, Point]:
    """The control points of a curve that leaves ``p0`` and reaches ``p3`` along
    ``out``, pushed ``bend`` across the straight line between them."""
    dx, dy = p3[0] - p0[0], p3[1] - p0[1]
    length = (dx * dx + dy * dy) ** 0.5 or 1
    nx, ny = -dy / length * bend, dx / length * bend
    return (
        (p0[0] + out[0] + nx, p0[1] + out[1] + ny),
        (p3[0] - out[0] + nx, p3[1] - out[1] + ny),
    )
