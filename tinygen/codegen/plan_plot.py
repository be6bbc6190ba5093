"""The memory plan drawn: arena offset against op index, each buffer a box over its lifetime.

    from tinygen.codegen.plan_plot import draw_plan
    png = draw_plan(graph, plan, "png")        # bytes; "svg" for an SVG document

Needs matplotlib (the `report` extra); `ImportError` otherwise. The box of a buffer spans
the steps it is live (x: from `start - BOX_HALF_WIDTH` to `end + BOX_HALF_WIDTH`) and its
bytes in the arena (y: `offset` to `offset + nbytes`). The axes show x from -0.5 to
`steps - 0.5` and y from 0 to `y_limit(plan)`, so a box's position can be read back from
the SVG: every box is a group with the id `tg-buf-<buffer id>` holding a `<title>`
(shown on hover) and the plot area is the group `tg-plot-area`. Dashed lines mark the
arena size and the live-tensor lower bound (the most bytes live at one step).
"""
from __future__ import annotations

import io
import re
from html import escape

BOX_HALF_WIDTH = 0.42
Y_HEADROOM = 1.12
PREFIX = "tg-"

_COLORS = {"input": "#4C72B0", "output": "#DD8452", "scratch": "#937860", "tensor": "#55A868",
           "alias": "#8172B3"}


def y_limit(plan) -> float:
    return max(plan.arena_bytes, plan.lower_bound_bytes, 1) * Y_HEADROOM


def buffer_kind(graph, b) -> str:
    if b.scratch_op is not None:
        return "scratch"
    if any(t in graph.inputs for t in b.tensors):
        return "input"
    if any(t in graph.outputs for t in b.tensors):
        return "output"
    if len(b.tensors) > 1:
        return "alias"
    return "tensor"


def buffer_label(graph, plan, b) -> str:
    """The hover text of a buffer: what it holds, its bytes and offset, its lifetime."""
    if b.scratch_op is not None:
        op = graph.operators[b.scratch_op]
        what = f"kernel scratch of op {b.scratch_op} {op.op}"
    else:
        names = [f"{t} '{graph.tensors[t].name}'" for t in b.tensors]
        what = "tensor " + ", ".join(names) if len(names) == 1 else "tensors " + ", ".join(names)
    first, last = plan.order[b.start], plan.order[b.end]
    life = f"op {first}" if b.start == b.end else f"ops {first}..{last}"
    return f"{what}: {b.nbytes:,} bytes at offset {b.offset:,}, live {life}"


def plan_boxes(graph, plan) -> list[dict]:
    """The boxes as data (what the drawing shows): id, kind, label, x0, x1, y0, y1."""
    out = []
    for b in sorted(plan.buffers, key=lambda b: b.id):
        if b.offset < 0:
            continue
        out.append({"id": b.id, "kind": buffer_kind(graph, b), "label": buffer_label(graph, plan, b),
                    "x0": b.start - BOX_HALF_WIDTH, "x1": b.end + BOX_HALF_WIDTH,
                    "y0": b.offset, "y1": b.offset + b.nbytes})
    return out


def _tick_step(top: float) -> int:
    """A power-of-two byte step giving at most about 7 ticks up to `top`."""
    step = 16
    while top / step > 7:
        step *= 2
    return step


def _kb(v: float, _pos=None) -> str:
    if v >= 1024 * 1024:
        return f"{v / (1024 * 1024):.3g} MB"
    if v >= 1024:
        return f"{v / 1024:.3g} KB"
    return f"{v:.0f} B"


def plan_figure(graph, plan, *, width: float = 9.0, height: float = 4.8):
    """A matplotlib Figure (no pyplot: safe in any thread, no display needed)."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch, Rectangle
    from matplotlib.ticker import FuncFormatter, MaxNLocator, MultipleLocator

    steps = max(len(plan.order), 1)
    fig = Figure(figsize=(width, height), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    ax.patch.set_gid(PREFIX + "plot-area")
    for box in plan_boxes(graph, plan):
        r = Rectangle((box["x0"], box["y0"]), box["x1"] - box["x0"], box["y1"] - box["y0"],
                      facecolor=_COLORS[box["kind"]], edgecolor="#222222", linewidth=0.4, alpha=0.85)
        r.set_gid(f"{PREFIX}buf-{box['id']}")
        ax.add_patch(r)
    ax.set_xlim(-0.5, steps - 0.5)
    ax.set_ylim(0, y_limit(plan))
    ax.axhline(plan.arena_bytes, color="#C44E52", linestyle="--", linewidth=1.0,
               gid=PREFIX + "arena-line")
    ax.axhline(plan.lower_bound_bytes, color="#333333", linestyle=":", linewidth=1.0,
               gid=PREFIX + "bound-line")
    ax.text(steps - 0.5, plan.arena_bytes, f" arena {plan.arena_bytes:,} B", va="bottom", ha="right",
            fontsize=8, color="#C44E52")
    ax.text(-0.5, plan.lower_bound_bytes, f" live-tensor bound {plan.lower_bound_bytes:,} B", va="bottom",
            ha="left", fontsize=8, color="#333333")
    ax.yaxis.set_major_locator(MultipleLocator(_tick_step(y_limit(plan))))
    ax.yaxis.set_major_formatter(FuncFormatter(_kb))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=min(steps, 20)))
    ax.set_xlabel("op (execution order)")
    ax.set_ylabel("arena offset")
    ax.set_title(f"{graph.name}: memory plan ({len(plan.buffers)} buffers, arena {plan.arena_bytes:,} bytes)",
                 fontsize=10)
    kinds = sorted({box["kind"] for box in plan_boxes(graph, plan)})
    if kinds:
        ax.legend(handles=[Patch(facecolor=_COLORS[k], label=k) for k in kinds], loc="upper left",
                  fontsize=7, ncol=len(kinds), frameon=False, bbox_to_anchor=(0.0, 1.0))
    fig.tight_layout()
    return fig


def figure_bytes(fig, fmt: str) -> bytes:
    """PNG or SVG bytes of a Figure (SVG: text as <text>, deterministic ids)."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.backends.backend_svg import FigureCanvasSVG

    buf = io.BytesIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "tinygen"}):
        if fmt == "png":
            FigureCanvasAgg(fig)
            fig.savefig(buf, format="png", metadata={"Software": None})
        elif fmt == "svg":
            FigureCanvasSVG(fig)
            fig.savefig(buf, format="svg", metadata={"Date": None})
        else:
            raise ValueError(f"unknown picture format {fmt!r}")
    return buf.getvalue()


def add_titles(svg: str, titles: dict) -> str:
    """Puts a <title> (hover text) first into each `<g id="ID">` of `titles`."""
    def sub(m):
        gid = m.group(1)
        t = titles.get(gid)
        return m.group(0) if t is None else f'{m.group(0)}\n   <title>{escape(t)}</title>'
    return re.sub(r'<g id="([^"]+)"[^>]*>', sub, svg)


def draw_plan(graph, plan, fmt: str = "png") -> bytes:
    fig = plan_figure(graph, plan)
    data = figure_bytes(fig, fmt)
    if fmt == "svg":
        titles = {f"{PREFIX}buf-{b['id']}": b["label"] for b in plan_boxes(graph, plan)}
        data = add_titles(data.decode("utf-8"), titles).encode("utf-8")
    return data


__all__ = ["BOX_HALF_WIDTH", "Y_HEADROOM", "add_titles", "buffer_label", "draw_plan", "figure_bytes",
           "plan_boxes", "plan_figure", "y_limit"]
