"""`tinygen profile MODEL --board B [--port P] [--runs N] [--json | --csv]`"""
from __future__ import annotations

import click

from tinygen.errors import TinygenError
from .common import coordinator_option, echo_json, model_argument, place_option
from .validate_cmd import _Progress


@click.command("profile")
@model_argument
@click.option("--board", "board", help="Board id (tinygen boards); qemu-* boards run in QEMU.")
@click.option("--port", "port", help="Serial port or pyserial URL (socket://host:port); default: auto-detect, "
                                     "or QEMU started by tinygen on an emulated board.")
@click.option("--baud", "baud", type=int, help="Baud rate (default: the board's).")
@click.option("--runs", "runs", type=int, default=5, show_default=True,
              help="Inferences to run (random inputs, fixed seed); the table shows the median per layer.")
@click.option("--seed", "seed", type=int, default=0, show_default=True, help="Seed of the random inputs.")
@click.option("--project", "project_dir", type=click.Path(file_okay=False),
              help="Emulated boards: the project directory to generate and build in "
                   "(default: a cache directory keyed by the model and board).")
@click.option("--no-estimate", "no_estimate", is_flag=True,
              help="Emulated boards: run QEMU without the cycle-estimating plugin (instruction counts only).")
@click.option("--timeout", "timeout", type=float, default=2.0, show_default=True,
              help="Seconds to wait for each reply before resending.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--csv", "as_csv", is_flag=True, help="Print the per-layer table as CSV.")
@click.option("-q", "--quiet", is_flag=True, help="No progress messages on stderr.")
@place_option()
@coordinator_option
def cmd(model, board, port, baud, runs, seed, project_dir, no_estimate, timeout, as_json, as_csv, quiet, place,
        coordinator):
    """Run the model on the board (or QEMU) N times and show the cycles of every layer.

    On QEMU boards a cycle is one instruction executed (exact, -icount); with the
    cycle-estimating plugin (default) the table adds the estimated core cycles, and the
    time in ms comes from that estimate. With --place (labgrid) the board is on another
    machine: tinygen acquires the place, profiles the firmware running there, releases it."""
    from tinygen.analysis.profile import format_profile, profile_csv, profile_data
    from tinygen.device.profile import profile
    from tinygen.model.reader import load_int8_model

    if as_json and as_csv:
        raise TinygenError("--json and --csv exclude each other")
    if runs < 1:
        raise TinygenError("--runs must be at least 1")
    if not board and not place:
        raise TinygenError("give the board: --board BOARD (this machine) or --place NAME (labgrid)")
    if place and (board or port):
        raise TinygenError("--place replaces --board and --port")
    graph = load_int8_model(model)

    def say(msg: str) -> None:
        if not quiet:
            click.echo(f"tinygen: {msg}", err=True)

    bar = _Progress("profiling")
    try:
        if place:
            from tinygen.device.farm import place_target
            from tinygen.device.profile import profile_link

            with place_target(place, coordinator=coordinator, baud=baud, say=say) as link:
                prof = profile_link(link, model, graph, board=link.place.board or f"place {place}", runs=runs,
                                    seed=seed, timeout=timeout, progress=bar, say=say)
        else:
            prof = profile(model, board, port=port, baud=baud, project_dir=project_dir, estimate=not no_estimate,
                           runs=runs, seed=seed, timeout=timeout, progress=bar, say=say)
    finally:
        bar.close()
    data = profile_data(graph, prof.as_dict())
    if as_json:
        echo_json(data)
    elif as_csv:
        click.echo(profile_csv(data), nl=False)
    else:
        click.echo(format_profile(data))
