"""`tinygen validate MODEL --board B [--port P] [--inputs IN.npy | --samples N] [--save-outputs OUT.npy]
[--per-layer] [--tolerance T] [--json]`"""
from __future__ import annotations

import sys

import click

from tinygen.errors import TinygenError
from .common import echo_json, model_argument, progress_enabled


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
@click.option("--board", "board", required=True, help="Board id (tinygen boards); qemu-* boards run in QEMU.")
@click.option("--port", "port", help="Serial port or pyserial URL (socket://host:port); default: auto-detect, "
                                     "or QEMU started by tinygen on an emulated board.")
@click.option("--baud", "baud", type=int, help="Baud rate (default: the board's).")
@click.option("--inputs", "inputs", multiple=True, type=click.Path(dir_okay=False),
              help="Inputs [N, *input_shape] as .npy (int8, or float quantized like `tinygen emulate`); "
                   "once per model input.")
@click.option("--samples", "samples", type=int, default=10, show_default=True,
              help="Number of random int8 inputs (fixed seed) when --inputs is not given.")
@click.option("--seed", "seed", type=int, default=0, show_default=True, help="Seed of the random inputs.")
@click.option("--save-outputs", "save_outputs", type=click.Path(dir_okay=False),
              help="Write the board's outputs: OUT.npy [N, *output_shape] (output 0) or OUT.npz (all).")
@click.option("--per-layer", "per_layer", is_flag=True,
              help="When an output differs, find the first layer whose output differs.")
@click.option("--tolerance", "tolerance", type=float, default=0.0, show_default=True,
              help="Largest accepted |difference| in output LSB (0: bit-exact).")
@click.option("--project", "project_dir", type=click.Path(file_okay=False),
              help="Emulated boards: the project directory to generate and build in "
                   "(default: a cache directory keyed by the model and board).")
@click.option("--timeout", "timeout", type=float, default=2.0, show_default=True,
              help="Seconds to wait for each reply before resending.")
@click.option("--reconnect", "reconnect", type=float, default=10.0, show_default=True,
              help="Seconds to wait for a vanished serial port to come back before giving up.")
@click.option("--no-estimate", "no_estimate", is_flag=True,
              help="Emulated boards: run QEMU without the cycle-estimating plugin (instruction counts only).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("-q", "--quiet", is_flag=True, help="No progress messages on stderr.")
def cmd(model, board, port, baud, inputs, samples, seed, save_outputs, per_layer, tolerance, project_dir,
        timeout, reconnect, no_estimate, as_json, quiet):
    """Run the model on the board (or QEMU) and check every output against the host emulator.

    Exit status 0 when every output is bit-exact (or within --tolerance), 1 when some differ,
    2 when the run could not be done or ended early (the partial results are still reported)."""
    from tinygen.device.validate import format_report, save_outputs as write_outputs, validate
    from .emulate_cmd import load_npy

    if save_outputs and not save_outputs.endswith((".npy", ".npz")):
        raise TinygenError(f"--save-outputs {save_outputs}: use a .npy or .npz file name")
    if tolerance < 0:
        raise TinygenError("--tolerance must be >= 0")
    arrays = [load_npy(p, f"input {i}") for i, p in enumerate(inputs)]

    def say(msg: str) -> None:
        if not quiet:
            click.echo(f"tinygen: {msg}", err=True)

    bar = _Progress()
    try:
        report = validate(model, board, port=port, baud=baud, project_dir=project_dir, inputs=arrays or None,
                          samples=samples, seed=seed, per_layer=per_layer, tolerance=tolerance, timeout=timeout,
                          reconnect_timeout=reconnect, estimate=not no_estimate, progress=bar, say=say)
    finally:
        bar.close()
    if save_outputs and report.outputs:
        write_outputs(report, save_outputs)
    if as_json:
        d = report.as_dict()
        d["save_outputs"] = save_outputs if report.outputs else None
        echo_json(d)
    else:
        click.echo(format_report(report))
        if save_outputs and report.outputs:
            click.echo(f"wrote {save_outputs} ({report.samples} sample(s))")
    if report.error:
        last = report.device_text[-1] if report.device_text else ""
        tail = f" (last device output: {last[:120]!r}{'...' if len(last) > 120 else ''})" if last else ""
        click.echo(f"tinygen: error: {report.error}{tail}", err=True)
        click.get_current_context().exit(130 if report.interrupted else 2)
    click.get_current_context().exit(0 if report.passed else 1)
