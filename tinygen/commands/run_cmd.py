"""`tinygen run MODEL --board BOARD [-o DIR] [--port P] [--json]`"""
from __future__ import annotations

import time

import click

from tinygen.errors import TinygenError
from .common import coordinator_option, echo_json, model_argument, place_option


class MismatchError(TinygenError):
    """The board's self-test output differs from the emulator's."""

    exit_code = 1


@click.command("run")
@model_argument
@click.option("--board", required=True, help="Target board (see `tinygen boards`).")
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False, path_type=str),
              help="Keep the firmware project in DIR (default: a temporary directory).")
@click.option("--name", help="C identifier prefix (default: from the model's file name).")
@click.option("--port", help="Serial port of a real board (default: found by USB VID:PID).")
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait for the self-test report.")
@click.option("--json", "as_json", is_flag=True, help="Print the banner, the self-test and the comparison as JSON.")
@place_option()
@coordinator_option
def cmd(model, board, out_dir, name, port, timeout, as_json, place, coordinator):
    """Generate, build and flash the model, then check the board's self-test against the emulator.

    On emulated boards (qemu-*) no hardware is needed. With --place (labgrid) the board is on
    another machine: flashed through the place (OpenOCD), or for an emulated board already
    running this model there; the self-test is read through the place's serial port.
    """
    import shutil
    import tempfile

    from tinygen.boards.catalog import load_board
    from tinygen.boards.deploy import build_project
    from tinygen.device.selftest import selftest_qemu
    from tinygen.boards.project import write_project
    from tinygen.model.reader import load_int8_model

    say = lambda m: click.echo(m, err=True)  # noqa: E731
    b = load_board(board)
    g = load_int8_model(model)
    port = _check_target(b, place, port)
    tmp = None
    if out_dir is None:
        tmp = tempfile.mkdtemp(prefix="tinygen-run-")
        out_dir = f"{tmp}/{b.id}"
    timings = {}
    try:
        t = time.monotonic()
        proj = write_project(g, b, out_dir, name, progress=say)
        timings["generate"] = time.monotonic() - t
        built = build_project(proj, progress=say)
        timings["build"] = built.seconds
        say(f"built: {built.summary()}")
        t = time.monotonic()
        if place:
            res = _run_at_place(proj, place, coordinator, timeout, timings, say)
        elif b.is_emulated:
            res = selftest_qemu(proj, timeout=timeout, progress=say)
        else:
            res, t = _run_on_board(proj, port, timeout, timings, say)
        timings["run"] = time.monotonic() - t
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    if as_json:
        out = res.as_dict()
        out.update(project=None if tmp else str(proj.path), build=built.as_dict(),
                   timings={k: round(v, 3) for k, v in timings.items()})
        echo_json(out)
    else:
        _show_result(res, b, built, timings)
    if not res.ok:
        raise MismatchError(f"{b.id}: the board differs from the emulator: {'; '.join(res.mismatches)}")


def _check_target(b, place, port):
    """Fails before building when the board cannot be reached: with --place, a board the place
    cannot flash; a real board, no (or several) serial port(s). Returns the port (None: QEMU/place)."""
    from tinygen.boards.deploy import pick_port

    if place:
        from tinygen.device.farm import flasher_problem

        if port:
            raise TinygenError("give --port or --place, not both")
        why = flasher_problem(b)               # before building: this board cannot be flashed there
        if why:
            raise TinygenError(why)
        return port
    if not b.is_emulated:
        return pick_port(b, port).device       # no board (or several): fail before building
    return port


def _run_on_board(proj, port, timeout, timings, say):
    """Flash a real board, then read its self-test: (the result, when the run started)."""
    from tinygen.boards.deploy import flash_real
    from tinygen.device.selftest import selftest_serial

    t = time.monotonic()
    device = flash_real(proj, port, progress=say)
    timings["flash"] = time.monotonic() - t
    t = time.monotonic()
    return selftest_serial(proj, device, timeout=timeout, progress=say), t


def _show_result(res, b, built, timings: dict) -> None:
    """The text report: the banner, the outputs, the inference's cycles, build and times, the match."""
    bn, st = res.banner, res.selftest
    click.echo(f"{bn.get('model')} (sha256 {bn.get('sha256')}) on {bn.get('board')}, tinygen firmware "
               f"{bn.get('tinygen')}: arena {bn.get('arena_bytes')} bytes, {bn.get('layers')} layers")
    for k, o in enumerate(st.get("outputs", [])):
        vals = o.get("values")
        shown = (vals[:16] + ["..."] if vals and len(vals) > 16 else vals) if vals is not None else o.get("crc32")
        click.echo(f"output {k}: {shown}")
    cyc = st.get("cycles")
    unit = "instructions (QEMU -icount)" if b.is_emulated else f"cycles at {b.clock_hz / 1e6:g} MHz"
    click.echo(f"inference: {cyc} {unit}" + ("" if b.is_emulated else f" = {cyc / b.clock_hz * 1e3:.2f} ms"))
    click.echo(f"build {built.summary()}")
    click.echo("times: " + ", ".join(f"{k} {v:.2f} s" for k, v in timings.items()))
    if res.ok:
        n = sum(len(o.get("values", [])) or o.get("bytes", 0) for o in st.get("outputs", []))
        click.echo(f"match: the board's output equals the emulator's ({n} values)")


def _run_at_place(proj, place, coordinator, timeout, timings, say):
    """Flash through the labgrid place (or check the emulated board there runs this model),
    then RESET the firmware and read its self-test through the place's serial port."""
    from tinygen.device.farm import Farm, flash_place
    from tinygen.device.selftest import selftest_serial

    with Farm.connect(coordinator, say=say) as farm, farm.place(place) as p:
        t = time.monotonic()
        say(flash_place(p, proj, say=say))
        timings["flash"] = time.monotonic() - t
        res = p.serial()
        return selftest_serial(proj, res.url, timeout=timeout, baud=res.speed, progress=say)
