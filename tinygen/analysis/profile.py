"""The per-layer profile table: the board's cycle counts (`tinygen.device.profile`) joined
with the model's ops (MACs, output shapes, kernel variants, scratch).

    data = profile_data(graph, prof.as_dict())    # what `tinygen profile --json` prints
    print(format_profile(data)); print(profile_csv(data))

`tinygen report` draws its per-layer bar chart from the same `profile_data`.
"""
from __future__ import annotations

import csv
import io

from tinygen.model.graph import Graph


def _shape(shape) -> str:
    return "x".join(map(str, shape)) if shape else "scalar"


def board_core(board: str | None) -> str | None:
    """The CPU core of a known board (the kernel variants depend on it), None otherwise."""
    from tinygen.boards.catalog import load_board
    from tinygen.errors import TinygenError

    if not board:
        return None
    try:
        return load_board(board).core
    except TinygenError:
        return None


def profile_data(g: Graph, prof: dict, *, plan=None) -> dict:
    """The `--json` object: `prof` is `tinygen.device.profile.Profile.as_dict()`. The kernel
    variants are those of the board's core."""
    from tinygen.analysis.inspect import kernel_info, model_stats

    stats = model_stats(g)
    kinfo = kernel_info(g, plan, target=board_core(prof.get("board")))
    cycles = prof["layer_cycles"]
    est = prof.get("layer_cycles_estimated")
    total = prof["total_cycles"]
    clock = prof.get("clock_hz") or 0
    layers = [_layer_row(o, kinfo[k], cycles[k] if k < len(cycles) else None, est[k] if est is not None else None,
                         est is not None, total, clock)
              for k, o in enumerate(stats.ops)]
    est_total = prof.get("total_cycles_estimated")
    ms_from = est_total if est_total is not None else total
    d = {
        "model": prof["model"],
        "board": prof["board"],
        "runs": prof["runs"],
        "total_cycles": total,
        "layers": layers,
        "cycle_unit": prof.get("cycle_unit", "cycles"),
        "emulated": prof.get("emulated", False),
        "clock_hz": clock,
        "macs": stats.macs,
        "layer_cycles_sum": prof["layer_cycles_sum"],
        "overhead_cycles": prof["overhead_cycles"],
        "overhead_per_layer": (prof["overhead_cycles"] / len(layers)) if layers and total is not None else None,
        "total_cycles_per_run": prof.get("total_cycles_per_run", []),
        "total_ms": (ms_from * 1e3 / clock) if clock and ms_from is not None else None,
        "total_ms_basis": "estimated" if est_total is not None else "exact",
        "mac_per_cycle": (stats.macs / total) if total else None,
    }
    if est_total is not None:
        d["total_cycles_estimated"] = est_total
        d["cycles_per_instruction"] = est_total / total if total else None
        d["cycle_model"] = prof.get("cycle_model")
    return d


def _layer_row(o, kinfo: dict, c, est, has_est: bool, total, clock) -> dict:
    """One layer of `profile_data`: op `o` with its measured cycles `c` (None: not measured) and
    `est`, the cycle model's estimate (with `has_est`)."""
    row = {
        "index": o.index,
        "op": o.op,
        "output_shape": o.outputs[0] if o.outputs else [],
        "macs": o.macs,
        "cycles": c,
        "mac_per_cycle": (o.macs / c) if c else None,
        "share": (c / total) if (c is not None and total) else None,
        "kernel": kinfo["kernel"],
        "kernel_reason": kinfo["kernel_reason"],
        "scratch_bytes": kinfo["scratch_bytes"],
    }
    if has_est:
        row["cycles_estimated"] = est
        row["cycles_per_instruction"] = (est / c) if c else None
    basis = est if has_est else c
    row["ms"] = (basis * 1e3 / clock) if (clock and basis is not None) else None
    return row


def _fmt(v, spec=",") -> str:
    if v is None:
        return "-"
    return format(v, spec)


def format_profile(d: dict) -> str:
    """The human table (several lines)."""
    unit = "instr" if d["emulated"] else "cycles"
    has_est = "total_cycles_estimated" in d
    runs = d["runs"]
    lines = [f"profile {d['model']} on {d['board']}: median of {runs} run{'s' if runs != 1 else ''} per layer", ""]
    lines += _table_lines(_layer_rows(d, unit, has_est))
    lines.append("")
    lines += _total_lines(d, unit, has_est)
    return "\n".join(lines)


def _layer_rows(d: dict, unit: str, has_est: bool) -> list[list[str]]:
    """The table's header and one row of text cells per layer."""
    head = ["#", "op", "output", "MACs", unit]
    if has_est:
        head.append("est. cycles")
    head.append("ms")
    head += [f"MAC/{unit.rstrip('s') if unit == 'cycles' else unit}", "share", "scratch B", "kernel (why)"]
    rows = [head]
    for r in d["layers"]:
        row = [str(r["index"]), r["op"], _shape(r["output_shape"]), _fmt(r["macs"]), _fmt(r["cycles"])]
        if has_est:
            row.append(_fmt(r.get("cycles_estimated")))
        row.append(_fmt(r.get("ms"), ".3f"))
        kern = r["kernel"] + (f" ({r['kernel_reason']})" if r["kernel_reason"] else "")
        row += [_fmt(r["mac_per_cycle"], ".3f"), "-" if r["share"] is None else f"{100 * r['share']:.1f}%",
                _fmt(r["scratch_bytes"]), kern]
        rows.append(row)
    return rows


def _table_lines(rows: list[list[str]]) -> list[str]:
    """The rows aligned (op, output and kernel left, numbers right), a rule under the header."""
    head = rows[0]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    left = {1, 2, len(head) - 1}
    lines = []
    for k, r in enumerate(rows):
        lines.append("  ".join(c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
                     .rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


def _total_lines(d: dict, unit: str, has_est: bool) -> list[str]:
    """The whole inference under the table: sum of the layers, total, hook overhead, time, MACs."""
    total, s, over = d["total_cycles"], d["layer_cycles_sum"], d["overhead_cycles"]
    n = len(d["layers"])
    lines = [f"layers sum       {s:,} {unit}",
             f"whole inference  {total:,} {unit} (median; the count `validate` reports)"]
    if total:
        lines.append(f"hook overhead    {over:,} {unit} = {100 * over / total:.2f}% of the whole, "
                     f"{over / max(n, 1):,.0f} per layer: the tg_on_layer() hooks and the glue code between "
                     f"ops, outside the layer windows")
    mhz = d["clock_hz"] / 1e6 if d["clock_hz"] else None
    cm = d.get("cycle_model") or {}
    if has_est:
        cpi = d.get("cycles_per_instruction")
        lines.append(f"estimated        {d['total_cycles_estimated']:,} {cm.get('label', 'core')} cycles"
                     + (f" ({cpi:.2f} per instruction)" if cpi is not None else "")
                     + (f" = {d['total_ms']:.3f} ms at {mhz:g} MHz" if mhz and d["total_ms"] is not None else ""))
    elif mhz and d["total_ms"] is not None:
        lines.append(f"time             {d['total_ms']:.3f} ms at {mhz:g} MHz")
    if d["mac_per_cycle"]:
        lines.append(f"MACs             {d['macs']:,} ({d['mac_per_cycle']:.3f} per {unit.rstrip('s')})")
    if d["emulated"]:
        note = "QEMU -icount: a cycle is one instruction executed (exact)"
        if has_est:
            note += (f"; est. cycles and ms are an estimate from the {cm.get('label', 'core')} timing table "
                     f"({cm.get('table', '')})")
        lines.append(f"({note})")
    return lines


def profile_csv(d: dict) -> str:
    """One row per layer, with a header."""
    buf = io.StringIO()
    cols = ["index", "op", "output_shape", "macs", "cycles", "cycles_estimated", "ms", "mac_per_cycle", "share",
            "kernel", "kernel_reason", "scratch_bytes"]
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for r in d["layers"]:
        vals = dict(r, output_shape=_shape(r["output_shape"]))
        w.writerow(["" if vals.get(c) is None else vals.get(c) for c in cols])
    return buf.getvalue()
