"""`tinygen generate MODEL -o DIR [--board BOARD] [--name NAME] [--json]`"""
from __future__ import annotations

import click

from .common import echo_json, model_argument


@click.command("generate")
@model_argument
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False, path_type=str),
              help="Directory for the generated files (with --board: the firmware project).")
@click.option("--board", help="Write a complete firmware project for this board (see `tinygen boards`); "
              "without it, only the model's C code and its kernels.")
@click.option("--name", help="C identifier prefix (default: from the model's file name).")
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
def cmd(model, out_dir, board, name, as_json):
    """Generate interpreter-free C code for the model, or with --board a firmware project."""
    from pathlib import Path

    from ..reader import load_int8_model

    g = load_int8_model(model)
    if board is None:
        from ..carray import c_identifier
        from ..codegen import generate

        res = generate(g, Path(out_dir), c_identifier(name or g.name))
        if as_json:
            echo_json({"files": [str(p) for p in res.files], "arena_bytes": res.arena_bytes,
                       "constant_bytes": res.flash_bytes})
        else:
            for p in res.files:
                click.echo(f"wrote {p}")
            click.echo(f"arena {res.arena_bytes} bytes, constants {res.flash_bytes} bytes")
        return

    from ..project import write_project

    proj = write_project(g, board, out_dir, name, progress=lambda m: click.echo(m, err=True))
    m = proj.manifest
    if as_json:
        echo_json({"project": str(proj.path), "board": m["board"], "name": m["name"], "firmware": m["firmware"],
                   "arena_bytes": m["arena_bytes"], "constant_bytes": m["constant_bytes"], "fit": m["fit"],
                   "layer_outputs": m["layer_outputs"]})
        return
    fit = m["fit"]
    click.echo(f"wrote {proj.path}: firmware project for {m['model']} on {m['board']} ({m['build_system']})")
    click.echo(f"  estimate: flash {fit['flash']['needed'] / 1024:.1f} KB of {fit['flash']['available'] / 1024:.0f} KB, "
               f"RAM {fit['ram']['needed'] / 1024:.1f} KB of {fit['ram']['available'] / 1024:.0f} KB "
               f"(arena {m['arena_bytes']} bytes)")
    click.echo(f"  next: tinygen build {proj.path} && tinygen flash {proj.path}")
