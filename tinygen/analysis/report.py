"""`tinygen report`: one self-contained HTML page (or the pictures alone) about a model.

    data = report_data(graph, board="qemu-cortex-m4", profile=prof_dict, validate=val_dict)
    html = render_html(graph, data)                 # str, no external resources
    pics = render_pictures(graph, data, "svg")      # {"memory-plan": bytes, "memory": ..., "profile": ...}

Everything drawn comes from `report_data`, which gathers the same data the `--json` outputs
of `inspect`, `profile` and `validate` print, plus the memory plan and the fit check's
flash/RAM estimate per board. The page embeds that data as JSON
(`<script type="application/json" id="tinygen-data">`), its pictures as inline SVG (hover a
memory-plan box for its tensor) and its styles inline: it opens without any network.
This module runs nothing on a board: the command gathers profile/validate data and passes
it in. Needs matplotlib (the `report` extra).
"""
from __future__ import annotations

import collections
import json
from html import escape

from tinygen.errors import TinygenError
from tinygen.model.graph import Graph

PICTURES = ("memory-plan", "memory", "profile")

_FLASH_COLORS = {"weights": "#4C72B0", "kernels": "#55A868", "runtime": "#8172B3", "generated code": "#CCB974"}
_RAM_COLORS = {"arena": "#DD8452", "stack": "#C44E52", "runtime data": "#937860", "I/O": "#DA8BC3"}


def need_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise TinygenError("tinygen report needs matplotlib: pip install 'tinygen[report]' "
                           "(or pip install matplotlib)") from None


# ----------------------------------------------------------------------------- data
def memory_data(graph: Graph, boards) -> list[dict]:
    """Flash and RAM of the firmware on each board, split into segments (the fit check's
    estimate: exact constants and arena, estimated code)."""
    from tinygen.boards.fit import estimate, model_costs

    costs = model_costs(graph)
    out = []
    for b in boards:
        fr = estimate(graph, b, costs=costs)
        flash = [("weights", costs["weights"]), ("kernels", costs["kernel_code"]), ("runtime", fr.base_flash),
                 ("generated code", costs["generated_code"])]
        ram = [("arena", fr.arena), ("stack", fr.stack), ("runtime data", fr.base_ram), ("I/O", fr.io)]
        out.append({"board": fr.board, "fits": fr.fits,
                    "flash": {"available": fr.flash_avail + fr.rodata_avail, "needed": fr.flash_needed,
                              "segments": [{"name": n, "bytes": int(v)} for n, v in flash]},
                    "ram": {"available": fr.ram_avail, "needed": fr.ram_needed,
                            "segments": [{"name": n, "bytes": int(v)} for n, v in ram]}})
    return out


def report_data(graph: Graph, *, board: str | None = None, profile: dict | None = None,
                validate: dict | None = None, plan=None) -> dict:
    """Everything the report shows. `profile`: `tinygen.analysis.profile.profile_data(...)`
    (what `profile --json` prints); `validate`: `Report.as_dict()` (what `validate --json`
    prints)."""
    from tinygen import __version__
    from tinygen.analysis.inspect import kernel_info, model_stats
    from tinygen.boards.catalog import list_boards
    from tinygen.codegen.plan_plot import plan_boxes
    from tinygen.codegen.planner import plan_memory

    stats = model_stats(graph)
    if stats.unsupported_ops:
        raise TinygenError(f"{graph.name}: {stats.unsupported_ops[0]['reason']}")
    plan = plan if plan is not None else plan_memory(graph)
    from tinygen.analysis.profile import board_core

    kinfo = kernel_info(graph, plan, target=board_core(board))
    ops = stats.to_dict()["ops"]
    for row, k in zip(ops, kinfo):
        row.update(kernel=k["kernel"], kernel_reason=k["kernel_reason"], scratch_bytes=k["scratch_bytes"])
    boards = [board] if board else list_boards()
    return {
        "tinygen": __version__,
        "model": graph.name,
        "sha256": graph.sha256,
        "board": board,
        "summary": {
            "size_bytes": stats.size_bytes, "macs": stats.macs, "params_bytes": stats.params_bytes,
            "inputs": stats.inputs, "outputs": stats.outputs, "num_ops": len(ops),
            "op_counts": dict(collections.Counter(o["op"] for o in ops).most_common()),
            "arena_bytes": int(plan.arena_bytes), "arena_lower_bound_bytes": int(plan.lower_bound_bytes),
            "largest_activation_bytes": stats.largest_activation_bytes,
        },
        "ops": ops,
        "kernel_target": board_core(board) or "cortex-m with DSP",
        "memory_plan": {"arena_bytes": int(plan.arena_bytes), "lower_bound_bytes": int(plan.lower_bound_bytes),
                        "alignment": plan.alignment, "steps": len(plan.order), "order": list(plan.order),
                        "boxes": plan_boxes(graph, plan)},
        "memory": memory_data(graph, boards),
        "profile": profile,
        "validate": validate,
    }


# ----------------------------------------------------------------------------- pictures
def _memory_figure(data: dict):
    """Stacked flash and RAM bars. With one board: in KB against what it has (the capacity
    marked, or noted when far off the chart); for every board ("fits where"): in % of each."""
    from matplotlib.figure import Figure

    rows = data["memory"]
    single = data["board"] is not None
    n = len(rows)
    fig = Figure(figsize=(9.0, 1.5 + (0.9 if single else 0.45) * n), dpi=100)
    axes = fig.subplots(1, 2, sharey=True)
    for ax, kind, colors, title in ((axes[0], "flash", _FLASH_COLORS, "flash"), (axes[1], "ram", _RAM_COLORS, "RAM")):
        seen = set()
        top = 0.0
        for y, row in enumerate(rows):
            m = row[kind]
            scale = (1 / 1024) if single else (100.0 / m["available"] if m["available"] else 0.0)
            left = 0.0
            for seg in m["segments"]:
                w = seg["bytes"] * scale
                if w <= 0:
                    continue
                ax.barh(y, w, left=left, color=colors[seg["name"]], edgecolor="white", linewidth=0.5, height=0.6,
                        label=None if seg["name"] in seen else seg["name"],
                        gid=f"tg-{kind}-{row['board']}-{seg['name'].replace(' ', '-')}")
                seen.add(seg["name"])
                left += w
            top = max(top, left)
            ok = m["needed"] <= m["available"]
            ax.text(left, y, f" {m['needed'] / 1024:,.1f} of {m['available'] / 1024:,.0f} KB"
                    + ("" if ok else "  does not fit"), va="center", fontsize=7, color="#222222" if ok else "#C44E52")
        if single:
            avail = rows[0][kind]["available"] / 1024
            limit = max(top * 1.6, 1.0)
            if avail <= limit:
                ax.axvline(avail, color="#C44E52", linestyle="--", linewidth=1.0)
                limit = max(limit, avail * 1.05)
            ax.set_xlim(0, limit)
            ax.set_xlabel(f"KB ({title} on the board: {avail:,.0f} KB)")
        else:
            ax.axvline(100.0, color="#C44E52", linestyle="--", linewidth=1.0)
            ax.set_xlim(0, max(top, 100.0) * 1.45)
            ax.set_xlabel(f"% of the board's {title}")
        ax.legend(fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=4, frameon=False,
                  title=title, title_fontsize=9)
    axes[0].set_yticks(range(n))
    axes[0].set_yticklabels([r["board"] + ("" if r["fits"] else " (no)") for r in rows], fontsize=8)
    axes[0].invert_yaxis()
    fig.suptitle(f"{data['model']}: flash and RAM" + (f" on {data['board']}" if single else ": fits where"),
                 fontsize=10)
    fig.tight_layout()
    return fig


def _profile_figure(data: dict):
    from matplotlib.figure import Figure

    prof = data["profile"]
    layers = prof["layers"]
    n = len(layers)
    est = "total_cycles_estimated" in prof
    fig = Figure(figsize=(9.0, 1.4 + 0.22 * n), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    ys = list(range(n))
    unit = "instructions (exact)" if prof.get("emulated") else "cycles"
    h = 0.4 if est else 0.7
    ax.barh([y - (h / 2 if est else 0) for y in ys], [r["cycles"] or 0 for r in layers], height=h,
            color="#4C72B0", label=unit, gid="tg-profile-exact")
    if est:
        ax.barh([y + h / 2 for y in ys], [r.get("cycles_estimated") or 0 for r in layers], height=h,
                color="#DD8452", label=f"{(prof.get('cycle_model') or {}).get('label', 'core')} cycles (estimated)",
                gid="tg-profile-estimated")
    ax.set_yticks(ys)
    ax.set_yticklabels([f"{r['index']} {r['op']}" for r in layers], fontsize=7 if n > 30 else 8)
    ax.invert_yaxis()
    ax.set_xlabel(f"median over {prof['runs']} runs")
    ax.legend(fontsize=8, loc="lower right", frameon=False)
    ax.set_title(f"{data['model']} on {prof['board']}: per-layer cost", fontsize=10)
    fig.tight_layout()
    return fig


def render_pictures(graph: Graph, data: dict, fmt: str = "svg", *, plan=None) -> dict:
    """{"memory-plan": bytes, "memory": bytes, "profile": bytes (with profile data)}."""
    from tinygen.codegen.plan_plot import add_titles, figure_bytes, plan_figure
    from tinygen.codegen.planner import plan_memory

    need_matplotlib()
    plan = plan if plan is not None else plan_memory(graph)
    out = {}
    svg_titles = {f"tg-buf-{b['id']}": b["label"] for b in data["memory_plan"]["boxes"]}
    raw = figure_bytes(plan_figure(graph, plan), fmt)
    if fmt == "svg":
        raw = add_titles(raw.decode("utf-8"), svg_titles).encode("utf-8")
    out["memory-plan"] = raw
    out["memory"] = figure_bytes(_memory_figure(data), fmt)
    if data.get("profile"):
        out["profile"] = figure_bytes(_profile_figure(data), fmt)
    return out


# ----------------------------------------------------------------------------- HTML
_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1100px;
       color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { font-size: 1.2em; margin-top: 2em;
     border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
.sub { color: #666; font-size: 0.9em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { padding: 0.25em 0.6em; border-bottom: 1px solid #eee; text-align: left; vertical-align: top; }
th { background: #f5f5f5; } td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.cards { display: flex; flex-wrap: wrap; gap: 0.8em; margin: 1em 0; }
.card { background: #f7f7f9; border-radius: 6px; padding: 0.6em 1em; min-width: 9em; }
.card b { display: block; font-size: 1.3em; } .card span { color: #666; font-size: 0.8em; }
.fig svg { max-width: 100%; height: auto; }
.ok { color: #2e7d32; } .bad { color: #c62828; } .note { color: #666; font-size: 0.85em; }
"""


def _n(v, spec=",") -> str:
    return "-" if v is None else format(v, spec)


def _kib(v) -> str:
    return "-" if v is None else f"{v / 1024:,.1f} KB"


def _svg_inline(svg: bytes) -> str:
    text = svg.decode("utf-8")
    i = text.find("<svg")
    return text[i:] if i >= 0 else text


def _table(head, rows, numeric=()) -> str:
    h = "".join(f"<th>{escape(str(c))}</th>" for c in head)
    body = []
    for r in rows:
        cells = []
        for i, c in enumerate(r):
            title = ""
            if isinstance(c, tuple):         # (text, hover text)
                c, tip = c
                title = f' title="{escape(str(tip))}"' if tip else ""
            cls = ' class="n"' if i in numeric else ""
            cells.append(f"<td{cls}{title}>{escape(str(c))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{h}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _shape(s) -> str:
    return "x".join(map(str, s)) if s else "scalar"


def render_html(graph: Graph, data: dict, *, plan=None) -> str:
    """The whole report as one self-contained HTML page (pictures inline, the data as JSON at the end)."""
    pics = render_pictures(graph, data, "svg", plan=plan)
    parts = _html_head(data) + _html_model(data) + _html_ops(data) + _html_memory(data, pics)
    if data.get("profile"):
        parts += _html_profile(data["profile"], pics)
    if data.get("validate"):
        parts += _html_validate(data["validate"])
    blob = json.dumps(data, default=_json_default, separators=(",", ":")).replace("</", "<\\/")
    parts.append(f'<script type="application/json" id="tinygen-data">{blob}</script>')
    parts.append("</body></html>")
    return "\n".join(parts)


def _html_head(data: dict) -> list[str]:
    """Document head, title line and the summary cards."""
    s = data["summary"]
    prof = data.get("profile")
    val = data.get("validate")
    parts = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
             f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
             f"<title>tinygen report: {escape(data['model'])}</title><style>{_CSS}</style></head><body>"]
    where = f" on {escape(data['board'])}" if data["board"] else ""
    parts.append(f"<h1>{escape(data['model'])}{where}</h1><div class=\"sub\">sha256 {data['sha256']} &middot; "
                 f"{s['size_bytes']:,} bytes &middot; tinygen {escape(data['tinygen'])}</div>")
    cards = [("MACs", f"{s['macs']:,}"), ("parameters", _kib(s["params_bytes"])), ("ops", str(s["num_ops"])),
             ("arena", _kib(s["arena_bytes"]))]
    if prof:
        cards += _profile_cards(prof)
    if val and val.get("samples"):
        cards.append(("bit-exact", f"{val['bit_exact_samples']}/{val['samples']}"))
    parts.append('<div class="cards">' + "".join(f"<div class=\"card\"><b>{escape(v)}</b><span>{escape(k)}</span>"
                                                  f"</div>" for k, v in cards) + "</div>")
    return parts


def _profile_cards(prof: dict) -> list[tuple[str, str]]:
    unit = "instructions" if prof.get("emulated") else "cycles"
    cards = [(unit, f"{prof['total_cycles']:,}")]
    if prof.get("total_cycles_estimated") is not None:
        cards.append(("cycles (estimated)", f"{prof['total_cycles_estimated']:,}"))
    if prof.get("total_ms") is not None:
        cards.append((f"ms at {prof['clock_hz'] / 1e6:g} MHz"
                      + (" (estimated)" if prof.get("total_ms_basis") == "estimated" else ""),
                      f"{prof['total_ms']:.3f}"))
    return cards


def _html_model(data: dict) -> list[str]:
    s = data["summary"]
    parts = ["<h2>Model</h2>"]
    io_rows = []
    for kind, items in (("input", s["inputs"]), ("output", s["outputs"])):
        for i, t in enumerate(items):
            io_rows.append((f"{kind} {i}", t["name"], _shape(t["shape"]), t["dtype"], _n(t["scale"], ".6g"),
                            _n(t["zero_point"], "d")))
    parts.append(_table(("", "tensor", "shape", "dtype", "scale", "zero point"), io_rows))
    parts.append(_table(("op", "count"), list(s["op_counts"].items()), numeric=(1,)))
    parts.append(f"<p>{s['macs']:,} MACs, {s['params_bytes']:,} parameter bytes, largest activation "
                 f"{s['largest_activation_bytes']:,} bytes, arena {s['arena_bytes']:,} bytes (live-tensor bound "
                 f"{s['arena_lower_bound_bytes']:,}).</p>")
    return parts


def _html_ops(data: dict) -> list[str]:
    """One row per op: shapes, cost, kernel variant (and, profiled, its measured share)."""
    prof = data.get("profile")
    est = bool(prof) and prof.get("total_cycles_estimated") is not None
    head = ["#", "op", "inputs", "outputs", "MACs", "weights B", "out B", "kernel (hover: why)", "scratch B"]
    if prof:
        head += ["instr" if prof.get("emulated") else "cycles"] + (["est. cycles"] if est else []) + ["share"]
    rows = []
    for k, o in enumerate(data["ops"]):
        r = [o["index"], o["op"], " ".join(_shape(x) for x in o["inputs"]), " ".join(_shape(x) for x in o["outputs"]),
             _n(o["macs"]), _n(o["weight_bytes"]), _n(o["activation_bytes"]),
             (o["kernel"], o["kernel_reason"]), _n(o["scratch_bytes"])]
        if prof:
            lay = prof["layers"][k]
            r.append(_n(lay["cycles"]))
            if est:
                r.append(_n(lay.get("cycles_estimated")))
            r.append("-" if lay["share"] is None else f"{100 * lay['share']:.1f}%")
        rows.append(r)
    numeric = {0, 4, 5, 6, 8} | set(range(9, len(head)))
    return ["<h2>Ops</h2>", _table(head, rows, numeric=numeric)]


def _html_memory(data: dict, pics: dict) -> list[str]:
    """The memory plan picture, and flash / RAM per board."""
    mp = data["memory_plan"]
    parts = ["<h2>Memory plan</h2>",
             f'<p class="note">Each box is a buffer in the arena (y: offset, height: bytes) over the ops it is '
             f'live (x). Hover a box for its tensor. Dashed red: the arena ({mp["arena_bytes"]:,} bytes); '
             f'dotted: the live-tensor bound ({mp["lower_bound_bytes"]:,} bytes, the most bytes live at one '
             f'op).</p>',
             f'<div class="fig" id="memory-plan">{_svg_inline(pics["memory-plan"])}</div>']
    parts.append("<h2>Flash and RAM" + (f" on {escape(data['board'])}" if data["board"] else ": fits where")
                 + "</h2>")
    parts.append('<p class="note">The fit check\'s figures: weights and arena exact, code estimated from '
                 'measured builds (<code>tinygen build</code> prints the linker\'s numbers).</p>')
    parts.append(f'<div class="fig" id="memory">{_svg_inline(pics["memory"])}</div>')
    mrows = []
    for m in data["memory"]:
        seg = {x["name"]: x["bytes"] for x in m["flash"]["segments"]}
        ram = {x["name"]: x["bytes"] for x in m["ram"]["segments"]}
        mrows.append((m["board"], "yes" if m["fits"] else "no", _kib(m["flash"]["needed"]),
                      _kib(m["flash"]["available"]), _kib(seg["weights"]), _kib(seg["kernels"] + seg["runtime"]),
                      _kib(seg["generated code"]), _kib(m["ram"]["needed"]), _kib(m["ram"]["available"]),
                      _kib(ram["arena"]), _kib(ram["stack"]), _kib(ram["runtime data"])))
    parts.append(_table(("board", "fits", "flash", "of", "weights", "kernels+runtime", "generated code", "RAM", "of",
                         "arena", "stack", "runtime data"), mrows, numeric=set(range(2, 12))))
    return parts


def _html_profile(prof: dict, pics: dict) -> list[str]:
    unit = "instructions executed (exact, QEMU -icount)" if prof.get("emulated") else "core cycles"
    note = (f"Median of {prof['runs']} runs, in {unit}. The layers sum to {prof['layer_cycles_sum']:,} of the "
            f"whole inference's {prof['total_cycles']:,}: {prof['overhead_cycles']:,} are the per-layer hooks "
            f"and the glue between ops.")
    if prof.get("total_cycles_estimated") is not None:
        cm = prof.get("cycle_model") or {}
        note += (f" Estimated {cm.get('label', 'core')} cycles: {prof['total_cycles_estimated']:,} "
                 f"({prof['cycles_per_instruction']:.2f} per instruction), from the timing table "
                 f"{cm.get('table', '')} (an estimate: no wait states, no bus contention).")
    if prof.get("total_ms") is not None:
        note += f" {prof['total_ms']:.3f} ms at {prof['clock_hz'] / 1e6:g} MHz."
    return [f"<h2>Per-layer cost on {escape(prof['board'])}</h2>", f'<p class="note">{escape(note)}</p>',
            f'<div class="fig" id="profile">{_svg_inline(pics["profile"])}</div>']


def _html_validate(val: dict) -> list[str]:
    parts = [f"<h2>Validation on {escape(val.get('board') or '')}</h2>"]
    if val.get("samples"):
        parts.append(_table(("", ""), _validate_rows(val)))
        cls, word = ("ok", "PASS: every output is bit-exact") if val.get("passed") else ("bad", "FAIL")
        parts.append(f'<p class="{cls}">{escape(word)}</p>')
    if val.get("error"):
        parts.append(f'<p class="bad">stopped early: {escape(val["error"])}</p>')
    return parts


def _validate_rows(val: dict) -> list[tuple]:
    lc, le, lm = val.get("latency_cycles") or {}, val.get("latency_cycles_estimated"), val.get("latency_ms")
    rows = [("samples", val["samples"]),
            ("bit-exact", f"{val['bit_exact_samples']}/{val['samples']} ({100 * val['bit_exact']:.1f}%)"),
            ("max |diff| (output LSB)", _n(val["max_abs_diff"], "g")),
            ("cosine", _n(val["cosine"], ".6f")),
            ("top-1 agreement", "-" if val["top1_agreement"] is None else f"{100 * val['top1_agreement']:.1f}%"),
            ("latency (" + ("instructions, exact" if (val.get("board") or "").startswith("qemu-") else "cycles") + ")",
             f"median {lc.get('median', 0):,}, min {lc.get('min', 0):,}, max {lc.get('max', 0):,}")]
    if le:
        rows.append(("latency (cycles, estimated)", f"median {le['median']:,}, min {le['min']:,}, max {le['max']:,}"))
    if lm:
        rows.append((f"latency (ms at {val['clock_hz'] / 1e6:g} MHz"
                     + (", from the estimate" if val.get("latency_ms_basis") == "estimated" else "") + ")",
                     f"median {lm['median']:.3f}, min {lm['min']:.3f}, max {lm['max']:.3f}"))
    return rows


def _json_default(o):
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


__all__ = ["PICTURES", "memory_data", "need_matplotlib", "render_html", "render_pictures", "report_data"]
