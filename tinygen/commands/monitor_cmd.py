"""`tinygen monitor [--port P] [--baud B] [--log FILE] [--json] [--board B] [--model M] [--run N]`"""
from __future__ import annotations

import click

from tinygen.errors import TinygenError
from .common import coordinator_option, link_baud_option, place_option


@click.command("monitor")
@click.option("--port", "port", help="Serial port or pyserial URL (socket://host:port); default: the board's "
                                     "auto-detected USB port, or QEMU started by tinygen for a qemu-* board "
                                     "with --model.")
@click.option("--baud", "baud", type=int, help="Baud rate (default: the board's, else 115200).")
@click.option("--board", "board", help="Board id: its clock (for ms), baud rate and USB id.")
@click.option("--model", "model", type=click.Path(dir_okay=False),
              help="The model the board runs: --run checks each result against the emulator.")
@click.option("--project", "project_dir", type=click.Path(file_okay=False),
              help="A tinygen project: its labels (manifest 'labels' or labels.txt).")
@click.option("--labels", "labels_file", type=click.Path(dir_okay=False),
              help="Class labels: one per line, or a JSON list.")
@click.option("--log", "log_file", type=click.Path(dir_okay=False),
              help="Append every received line, with a timestamp, to FILE (flushed at once).")
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of text.")
@click.option("--run", "run_n", type=int, default=0,
              help="Drive N inferences with random inputs through the protocol and show the results.")
@click.option("--seed", "seed", type=int, default=0, show_default=True, help="Seed of --run's random inputs.")
@click.option("--stateful", "stateful", is_flag=True,
              help="Model with state (LSTM, SVDF): --run's N inputs are one sequence (the state carries). "
                   "Default: the board resets the state before every inference.")
@click.option("--reconnect", "reconnect", type=float, default=5.0, show_default=True,
              help="Seconds to wait for a vanished port to come back (0: stop).")
@click.option("--duration", "duration", type=float, help="Stop after this many seconds.")
@link_baud_option
@place_option()
@coordinator_option
def cmd(port, baud, board, model, project_dir, labels_file, log_file, as_json, run_n, seed, stateful, reconnect,
        duration, link_baud, place, coordinator):
    """Live view of what the board sends: text lines, protocol frames, inference results.

    Ctrl-C stops with a summary (exit status 0)."""
    import sys

    from tinygen.boards.catalog import load_board
    from tinygen.device.monitor import Monitor

    b = load_board(board) if board else None
    graph = None
    if model:
        from tinygen.model.reader import load_int8_model

        graph = load_int8_model(model)
    labels = _labels(labels_file, project_dir)
    _check_options(run_n, place, port, b, graph)

    def say(msg: str) -> None:
        click.echo(f"tinygen: {msg}", err=True)

    mon = Monitor(out=sys.stdout, log_path=log_file, as_json=as_json, clock_hz=b.clock_hz if b else None,
                  labels=labels)
    reason = None
    target = _target(place, coordinator, b, port, baud, graph, say)
    try:
        with target as link:
            if not as_json:
                click.echo(f"--- monitoring {link.description} (Ctrl-C to stop) ---")
            reason = _observe(mon, link, b, graph, run_n=run_n, seed=seed, stateful=stateful, link_baud=link_baud,
                              reconnect=reconnect, duration=duration)
        mon.print_summary()
    except KeyboardInterrupt:
        mon.finish()
        mon.print_summary()
    finally:
        mon.close()
    if reason:
        click.echo(f"tinygen: error: {reason}", err=True)
        click.get_current_context().exit(2)
    if mon.counts["mismatches"]:
        click.get_current_context().exit(1)


def _labels(labels_file, project_dir) -> list[str] | None:
    """The class labels: from --labels, else from --project, else none."""
    from tinygen.device.monitor import load_labels, project_labels

    if labels_file:
        return load_labels(labels_file)
    if project_dir:
        return project_labels(project_dir)
    return None


def _check_options(run_n: int, place, port, b, graph) -> None:
    if run_n < 0:
        raise TinygenError("--run must be >= 0")
    if place and port:
        raise TinygenError("give --port or --place, not both")
    if b is not None and b.is_emulated and not port and not place and graph is None:
        raise TinygenError(f"{b.id} is emulated: pass --model (tinygen starts QEMU) or --port of a running QEMU")


def _target(place, coordinator, b, port, baud, graph, say):
    """The link to open: the labgrid place's, else the board's (port, QEMU or USB)."""
    if place:
        from tinygen.device.farm import place_target

        return place_target(place, coordinator=coordinator, baud=baud, say=say)
    from tinygen.device.target import open_target

    return open_target(b, port=port, baud=baud, graph=graph, say=say)


def _observe(mon, link, b, graph, *, run_n: int, seed: int, stateful: bool, link_baud, reconnect: float,
             duration: float | None) -> str | None:
    """--run N inferences, or watch; returns why it stopped early (None as well after Ctrl-C)."""
    try:
        if run_n:
            from tinygen.device.validate import resolve_link_baud

            rate = resolve_link_baud(link_baud, b) if b is not None or link_baud != "auto" else None
            return mon.drive(link, run_n, graph=graph, seed=seed, stateful=stateful, link_baud=rate)
        return mon.watch(link, reconnect=reconnect, duration=duration)
    except KeyboardInterrupt:
        mon.finish()
        return None
