"""`tinygen report MODEL [--board B] [-o report.html] [--format html|png|svg]`"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import click

from tinygen.errors import TinygenError
from .common import model_argument


def _write(path: Path, data: bytes) -> None:
    """All or nothing: a temporary file beside `path`, renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _measure(model, graph, board, *, port, baud, project_dir, estimate, samples, runs, say):
    """validate + profile on one board session (QEMU started once)."""
    from tinygen.analysis.profile import profile_data
    from tinygen.device.profile import profile_link
    from tinygen.device.target import open_target
    from tinygen.device.validate import validate_link

    with open_target(board, port=port, baud=baud, graph=graph, project_dir=project_dir, estimate=estimate,
                     say=say) as link:
        say(f"validating {samples} sample(s) on {board}")
        val = validate_link(link, str(model), graph, board=board, samples=samples, say=say)
        if val.error:
            raise TinygenError(f"validate on {board} stopped: {val.error}")
        say(f"profiling {runs} run(s) on {board}")
        prof = profile_link(link, str(model), graph, board=board, runs=runs, say=say)
    return profile_data(graph, prof.as_dict()), val.as_dict()


@click.command("report")
@model_argument
@click.option("--board", "board", help="Board id: adds the measured per-layer cycles and the validate summary, "
                                       "and compares flash/RAM with that board (default: every known board).")
@click.option("-o", "--output", "output", type=click.Path(dir_okay=False),
              help="HTML file (default MODEL-report.html); with --format png|svg the pictures are written as "
                   "STEM-<picture>.<format> beside it (default MODEL-<picture>.<format>).")
@click.option("--format", "fmt", type=click.Choice(["html", "png", "svg"]), default="html", show_default=True,
              help="One self-contained HTML page, or the pictures alone.")
@click.option("--port", "port", help="Serial port of the board (default: auto-detect, or QEMU on emulated boards).")
@click.option("--baud", "baud", type=int, help="Baud rate (default: the board's).")
@click.option("--samples", "samples", type=int, default=10, show_default=True,
              help="With --board: random inputs validated.")
@click.option("--runs", "runs", type=int, default=5, show_default=True, help="With --board: profiling runs.")
@click.option("--project", "project_dir", type=click.Path(file_okay=False),
              help="Emulated boards: the project directory to generate and build in.")
@click.option("--no-estimate", "no_estimate", is_flag=True,
              help="Emulated boards: no estimated cycles (QEMU without the cycle-estimating plugin).")
@click.option("-q", "--quiet", is_flag=True, help="No progress messages on stderr.")
def cmd(model, board, output, fmt, port, baud, samples, runs, project_dir, no_estimate, quiet):
    """Write a report of the model: summary, op table, the memory plan drawn, flash/RAM against the
    board(s); with --board also the measured per-layer cycles and the validate summary."""
    from tinygen.analysis.report import need_matplotlib, render_html, render_pictures, report_data
    from tinygen.boards.catalog import load_board
    from tinygen.codegen.planner import plan_memory
    from tinygen.model.reader import load_int8_model

    need_matplotlib()
    if samples < 1 or runs < 1:
        raise TinygenError("--samples and --runs must be at least 1")
    graph = load_int8_model(model)
    if board:
        load_board(board)                    # unknown board: one line, before anything runs

    def say(msg: str) -> None:
        if not quiet:
            click.echo(f"tinygen: {msg}", err=True)

    plan = plan_memory(graph)
    prof = val = None
    if board:
        prof, val = _measure(model, graph, board, port=port, baud=baud, project_dir=project_dir,
                             estimate=not no_estimate, samples=samples, runs=runs, say=say)
    data = report_data(graph, board=board, profile=prof, validate=val, plan=plan)
    if fmt == "html":
        path = Path(output or f"{graph.name}-report.html")
        _write(path, render_html(graph, data, plan=plan).encode("utf-8"))
        click.echo(f"wrote {path}")
        return
    pics = render_pictures(graph, data, fmt, plan=plan)
    if output:
        base = Path(output)
        stem, parent = base.stem if base.suffix else base.name, base.parent
    else:
        stem, parent = graph.name, Path(".")
    for name, blob in pics.items():
        path = parent / f"{stem}-{name}.{fmt}"
        _write(path, blob)
        click.echo(f"wrote {path}")
