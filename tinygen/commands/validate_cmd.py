"""`tinygen validate MODEL --board B [--port P] [--inputs IN.npy | --samples N] [--save-outputs OUT.npy]
[--per-layer] [--tolerance T] [--json]`; `--place NAME` (labgrid) instead of or besides `--board`, both
repeatable: several boards at once, one report row each."""
from __future__ import annotations

import sys

import click

from tinygen.errors import TinygenError
from .common import coordinator_option, echo_json, link_baud_option, model_argument, place_option, progress_enabled


class _Progress:
    """A click progress bar on stderr when it is a terminal; nothing otherwise."""

    def __init__(self, label: str = "validating"):
        self.bar = None
        self.label = label

    def __call__(self, i: int, n: int) -> None:
        if not progress_enabled():
            return
        if self.bar is None:
            self.bar = click.progressbar(length=n, label=self.label, file=sys.stderr, show_pos=True,
                                         show_eta=True)
            self.bar.__enter__()
        self.bar.update(i - self.bar.pos)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


@click.command("validate")
@model_argument
@click.option("--board", "boards", multiple=True,
              help="Board id on this machine (tinygen boards); qemu-* boards run in QEMU. Repeat for several.")
@place_option(multiple=True)
@coordinator_option
@click.option("--port", "port", help="Serial port or pyserial URL (socket://host:port); default: auto-detect, "
                                     "or QEMU started by tinygen on an emulated board.")
@click.option("--baud", "baud", type=int, help="Baud rate (default: the board's).")
@click.option("--inputs", "inputs", multiple=True, type=click.Path(dir_okay=False),
              help="Inputs [N, *input_shape] as .npy (int8, or float quantized like `tinygen emulate`); "
                   "once per model input.")
@click.option("--samples", "samples", type=int, default=10, show_default=True,
              help="Number of random inputs (fixed seed; of each input's type: int8, int16, int32 or float32) when --inputs is not given.")
@click.option("--seed", "seed", type=int, default=0, show_default=True, help="Seed of the random inputs.")
@click.option("--save-outputs", "save_outputs", type=click.Path(dir_okay=False),
              help="Write the board's outputs: OUT.npy [N, *output_shape] (output 0) or OUT.npz (all).")
@click.option("--per-layer", "per_layer", is_flag=True,
              help="When an output differs, find the first layer whose output differs.")
@click.option("--tolerance", "tolerance", type=float, default=0.0, show_default=True,
              help="Largest accepted |difference| in output LSB (0: bit-exact).")
@click.option("--stateful", "stateful", is_flag=True,
              help="Model with state (LSTM, SVDF): the samples are one sequence, the state carrying from sample to "
                   "sample (as `emulate --stateful`). Default: the board resets the state before every sample.")
@click.option("--project", "project_dir", type=click.Path(file_okay=False),
              help="Emulated boards: the project directory to generate and build in "
                   "(default: a cache directory keyed by the model and board).")
@click.option("--timeout", "timeout", type=float, default=2.0, show_default=True,
              help="Seconds to wait for each reply before resending.")
@click.option("--reconnect", "reconnect", type=float, default=10.0, show_default=True,
              help="Seconds to wait for a vanished serial port to come back before giving up.")
@click.option("--no-estimate", "no_estimate", is_flag=True,
              help="Emulated boards: run QEMU without the cycle-estimating plugin (instruction counts only).")
@link_baud_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("-q", "--quiet", is_flag=True, help="No progress messages on stderr.")
def cmd(model, boards, place, coordinator, port, baud, inputs, samples, seed, save_outputs, per_layer, tolerance,
        stateful, project_dir, timeout, reconnect, no_estimate, link_baud, as_json, quiet):
    """Run the model on the board (or QEMU) and check every output against the host emulator.

    Exit status 0 when every output is bit-exact (or within --tolerance), 1 when some differ,
    2 when the run could not be done or ended early (the partial results are still reported).

    With --place (labgrid), the board is on another machine: tinygen acquires the place,
    talks to the firmware already running there through its serial port, and releases it.
    Several --board/--place run the same inputs on all boards at once: one row per board
    and a combined verdict."""
    from tinygen.device.validate import save_outputs as write_outputs, validate
    from .emulate_cmd import load_npy

    places = list(place)
    many = _check_targets(boards, places, port, save_outputs, project_dir, tolerance)
    arrays = [load_npy(p, f"input {i}") for i, p in enumerate(inputs)]

    def say(msg: str) -> None:
        if not quiet:
            click.echo(f"tinygen: {msg}", err=True)

    kw = dict(inputs=arrays or None, samples=samples, seed=seed, per_layer=per_layer, tolerance=tolerance,
              timeout=timeout, reconnect_timeout=reconnect, stateful=stateful, link_baud=link_baud)
    if many:
        return _validate_many(model, boards, places, coordinator, baud, kw, as_json, say, estimate=not no_estimate)
    bar = _Progress()
    try:
        if places:
            report = _validate_place(model, places[0], coordinator, baud, kw, bar, say)
        else:
            report = validate(model, boards[0], port=port, baud=baud, project_dir=project_dir,
                              estimate=not no_estimate, progress=bar, say=say, **kw)
    finally:
        bar.close()
    if save_outputs and report.outputs:
        write_outputs(report, save_outputs)
    _show_report(report, save_outputs, as_json)
    if report.error:
        last = report.device_text[-1] if report.device_text else ""
        tail = f" (last device output: {last[:120]!r}{'...' if len(last) > 120 else ''})" if last else ""
        click.echo(f"tinygen: error: {report.error}{tail}", err=True)
        click.get_current_context().exit(report.interrupt_exit if report.interrupted else 2)
    click.get_current_context().exit(0 if report.passed else 1)


def _check_targets(boards, places, port, save_outputs, project_dir, tolerance) -> bool:
    """Checks the target and output options together; True for several boards."""
    if not boards and not places:
        raise TinygenError("give the board: --board BOARD (this machine) or --place NAME (labgrid)")
    many = len(boards) + len(places) > 1
    if port and (len(boards) != 1 or places):
        raise TinygenError("--port goes with a single --board")
    if many and (save_outputs or project_dir):
        raise TinygenError("--save-outputs and --project go with a single board")
    if save_outputs and not save_outputs.endswith((".npy", ".npz")):
        raise TinygenError(f"--save-outputs {save_outputs}: use a .npy or .npz file name")
    if tolerance < 0:
        raise TinygenError("--tolerance must be >= 0")
    return many


def _show_report(report, save_outputs, as_json: bool) -> None:
    """One board's report: the JSON object or the text, and where its outputs were saved."""
    from tinygen.device.validate import format_report

    if as_json:
        d = report.as_dict()
        d["save_outputs"] = save_outputs if report.outputs else None
        echo_json(d)
    else:
        click.echo(format_report(report))
        if save_outputs and report.outputs:
            click.echo(f"wrote {save_outputs} ({report.samples} sample(s))")


def _validate_place(model, name, coordinator, baud, kw, bar, say):
    from tinygen.device.farm import place_target
    from tinygen.device.validate import validate_link
    from tinygen.model.reader import load_int8_model

    graph = load_int8_model(model)
    with place_target(name, coordinator=coordinator, baud=baud, say=say) as link:
        return validate_link(link, model, graph, board=link.place.board or f"place {link.place.name}",
                             progress=bar, say=say, **kw)


def _validate_many(model, boards, places, coordinator, baud, kw, as_json, say, estimate=True):
    import contextlib

    from tinygen.device.target import open_target
    from tinygen.device.validate import format_many, validate_many
    from tinygen.model.reader import load_int8_model

    graph = load_int8_model(model)
    name = graph.name

    def board_opener(b):
        return lambda: open_target(b, baud=baud, graph=graph, estimate=estimate, say=lambda m: say(f"{b}: {m}"))

    def place_opener(p):
        from tinygen.device.farm import open_place_link

        return lambda: contextlib.closing(open_place_link(p, baud=baud, say=say))

    with contextlib.ExitStack() as stack:
        targets = [(b, "board", board_opener(b)) for b in boards]
        if places:
            from tinygen.device.farm import Farm

            farm = stack.enter_context(Farm.connect(coordinator, say=say))
            for pn in places:
                p = stack.enter_context(farm.place(pn))
                targets.append((f"place {p.name}", "place", place_opener(p)))
        results = validate_many(model, targets, say=say, **kw)
    passed = all(r.passed for r in results)
    if as_json:
        echo_json({"model": name, "model_path": str(model), "boards": [r.as_dict() for r in results],
                   "passed": passed})
    else:
        click.echo(format_many(name, results))
    errors = [(r.target, r.error or r.report.error) for r in results if r.failed_to_run]
    if errors:
        more = f" (and {len(errors) - 1} more board(s))" if len(errors) > 1 else ""
        click.echo(f"tinygen: error: {errors[0][0]}: {errors[0][1]}{more}", err=True)
        click.get_current_context().exit(2)
    click.get_current_context().exit(0 if passed else 1)
