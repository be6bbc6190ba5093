"""`tinygen generate MODEL -o DIR [--board BOARD [--mlperf ID [--energy]] | --target TARGET] [--name NAME] [--json]`"""
from __future__ import annotations

import click

from .common import echo_json, model_argument

# --target -> suggested compiler and flags (the C is C99 with no malloc; any of these builds it)
TARGET_FLAGS = {
    "host": "cc -std=c99 -O2",
    "cortex-m0": "arm-none-eabi-gcc -std=c99 -O2 -mcpu=cortex-m0 -mthumb",
    "cortex-m4": "arm-none-eabi-gcc -std=c99 -O2 -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16",
    "cortex-m7": "arm-none-eabi-gcc -std=c99 -O2 -mcpu=cortex-m7 -mthumb -mfloat-abi=hard -mfpu=fpv5-d16",
    "cortex-m33": "arm-none-eabi-gcc -std=c99 -O2 -mcpu=cortex-m33 -mthumb -mfloat-abi=hard -mfpu=fpv5-sp-d16",
    "cortex-m55": "arm-none-eabi-gcc -std=c99 -O2 -mcpu=cortex-m55 -mthumb -mfloat-abi=hard -mfpu=auto",
    "riscv32": "riscv64-unknown-elf-gcc -std=c99 -O2 -march=rv32imc -mabi=ilp32",
    "xtensa": "xtensa-esp32-elf-gcc -std=c99 -O2 -mlongcalls",
}


def _kernels(g, plan, target, fit_scratch: bool = True) -> list[dict]:
    """Per op with MACs: the kernel variant it gets on `target`, why, and its scratch bytes."""
    from tinygen.analysis.inspect import kernel_info

    macs = {op.index for op in g.operators if op.op in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")}
    return [dict(k, op=g.operators[k["index"]].op) for k in kernel_info(g, plan, target=target, fit_scratch=fit_scratch)
            if k["index"] in macs or k["scratch_bytes"]]


def _echo_kernels(kernels) -> None:
    if not kernels:
        return
    click.echo("kernels:")
    for k in kernels:
        scratch = f", scratch {k['scratch_bytes']} B" if k["scratch_bytes"] else ""
        click.echo(f"  op {k['index']:>3} {k['op']:<18} {k['kernel']:<13} {k['kernel_reason']}{scratch}")


@click.command("generate")
@model_argument
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False, path_type=str),
              help="Directory for the generated files (with --board: the firmware project).")
@click.option("--board", help="Write a complete firmware project for this board (see `tinygen boards`); "
              "without it, only the model's C code and its kernels.")
@click.option("--target", type=click.Choice(sorted(TARGET_FLAGS)), default="host", show_default=True,
              help="Without --board: the CPU the C code is for (recorded as NAME_TARGET; the suggested compiler "
              "flags follow it). Cortex-M4/M7/M33 compile the DSP kernels, Cortex-M55 the Helium (MVE) kernels, the "
              "others the portable C99 path.")
@click.option("--name", help="C identifier prefix (default: from the model's file name).")
@click.option("--optimize", type=click.Choice(["size", "speed"]), default="size", show_default=True,
              help="Without --board. size: the arena stays within 1.05x the live-tensor bound + 64 B (a kernel "
              "whose scratch does not fit takes a slower variant); speed: every op keeps its fastest kernel, "
              "whatever RAM its scratch costs (the output reports the arena against the size plan's).")
@click.option("--mlperf", "mlperf", metavar="ID",
              help="With --board: firmware that speaks the MLPerf Tiny DUT protocol for benchmark ID "
              "(kws01, vww01, ic01, ad01, or a name of yours: raw input bytes) instead of tinygen's protocol.")
@click.option("--energy", is_flag=True, help="With --mlperf on a real board: energy mode (timestamps on a GPIO "
              "pin for the energy monitor, 9600 baud).")
@click.option("--stateful", is_flag=True,
              help="Models with state (LSTM variable tensors): keep the state from one run to the next (a stream; "
                   "NAME_reset() starts a new sequence). Default: every run starts from the reset state.")
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
def cmd(model, out_dir, board, target, name, mlperf, energy, optimize, stateful, as_json):
    """Generate interpreter-free C code for the model, or with --board a firmware project."""
    from tinygen.model.reader import load_int8_model

    g = load_int8_model(model)
    if board is None and (mlperf or energy):
        from tinygen.errors import TinygenError

        raise TinygenError("--mlperf and --energy write a firmware project: give --board too")
    if board is None:
        _generate_code(g, out_dir, name, target, optimize, stateful, as_json)
    else:
        _generate_project(g, out_dir, board, name, mlperf, energy, as_json)


def _generate_code(g, out_dir, name, target, optimize, stateful, as_json) -> None:
    """The model's C code alone (no --board)."""
    from pathlib import Path

    from tinygen.codegen.carray import c_identifier
    from tinygen.codegen.generator import generate

    res = generate(g, Path(out_dir), c_identifier(name or g.name), target=target, optimize=optimize,
                   stateful=stateful)
    kernels = _kernels(g, res.plan, target, fit_scratch=optimize != "speed")
    size_arena = None
    if optimize == "speed":
        from tinygen.codegen.planner import plan_memory

        size_arena = plan_memory(g).arena_bytes
    if as_json:
        echo_json({"files": [str(p) for p in res.files], "arena_bytes": res.arena_bytes,
                   "live_tensor_bound_bytes": res.plan.live_bound_bytes, "optimize": optimize,
                   **({"size_arena_bytes": size_arena} if size_arena is not None else {}),
                   "constant_bytes": res.flash_bytes, "target": target, "cflags": TARGET_FLAGS[target],
                   "state_bytes": res.state_bytes, "stateful": bool(stateful),
                   "kernels": kernels})
        return
    for p in res.files:
        click.echo(f"wrote {p}")
    _echo_kernels(kernels)
    click.echo(f"arena {res.arena_bytes} bytes (live-tensor bound {res.plan.live_bound_bytes}), "
               f"constants {res.flash_bytes} bytes")
    if res.state_bytes:
        click.echo(f"state {res.state_bytes} bytes of variable tensors in the arena "
                   f"({'kept across runs' if stateful else 'reset at every run'}; NAME_reset() resets it)")
    if size_arena is not None:
        click.echo(f"--optimize speed: arena {res.arena_bytes} bytes vs {size_arena} bytes with --optimize size "
                   f"({res.arena_bytes - size_arena:+d} bytes)")
    click.echo(f"compile the .c files with: {TARGET_FLAGS[target]}")


def _generate_project(g, out_dir, board, name, mlperf, energy, as_json) -> None:
    """A firmware project for --board."""
    from tinygen.boards.project import write_project

    proj = write_project(g, board, out_dir, name, progress=lambda m: click.echo(m, err=True), mlperf=mlperf,
                         energy=energy)
    m = proj.manifest
    kernels = _kernels(g, None, proj.board.core)
    if as_json:
        out = {"project": str(proj.path), "board": m["board"], "name": m["name"], "firmware": m["firmware"],
               "arena_bytes": m["arena_bytes"], "constant_bytes": m["constant_bytes"], "fit": m["fit"],
               "layer_outputs": m["layer_outputs"], "kernels": kernels}
        if "mlperf" in m:
            out["mlperf"] = m["mlperf"]
        echo_json(out)
        return
    click.echo(f"wrote {proj.path}: firmware project for {m['model']} on {m['board']} ({m['build_system']})")
    if "mlperf" in m:
        ml = m["mlperf"]
        click.echo(f"  MLPerf Tiny DUT for {ml['id']} ({ml['task']}): {ml['db_bytes']}-byte inputs, "
                   f"{ml['baud']} baud, {'energy mode, timestamps on ' + ml['timestamp_pin'] if ml['energy_mode'] else 'performance mode'}")
    click.echo(f"  estimate: {_fit_text(m)}")
    _echo_kernels(kernels)
    click.echo(f"  next: tinygen build {proj.path} && tinygen flash {proj.path}")


def _fit_text(m: dict) -> str:
    """The fit estimate of a project manifest: flash (or each non-volatile region) and RAM."""
    fit = m["fit"]
    regions = fit.get("regions") or []
    if len(regions) > 2:    # code and weights in regions of their own (the board's [rodata])
        nv = ", ".join(f"{r['region']} {r['needed'] / 1024:.1f} KB of {r['available'] / 1024:.0f} KB"
                       for r in regions if r["region"] != "RAM")
    else:
        nv = f"flash {fit['flash']['needed'] / 1024:.1f} KB of {fit['flash']['available'] / 1024:.0f} KB"
    return (f"{nv}, RAM {fit['ram']['needed'] / 1024:.1f} KB of {fit['ram']['available'] / 1024:.0f} KB "
            f"(arena {m['arena_bytes']} bytes)")
