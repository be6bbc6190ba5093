"""`tinygen convert MODEL -o DIR [--name NAME] [--lang c|cpp] [--tflm]`"""
from __future__ import annotations

import click

from tinygen.codegen.carray import convert
from tinygen.model.reader import read_model
from .common import echo_json, model_argument


@click.command("convert")
@model_argument
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False, path_type=str),
              help="Directory for the generated files.")
@click.option("--name", help="C identifier for the array (default: from the file name).")
@click.option("--lang", type=click.Choice(["c", "cpp"]), default="c", show_default=True,
              help="Write NAME.c or NAME.cc.")
@click.option("--tflm", is_flag=True, help="Also write NAME_tflm.h: a MicroMutableOpResolver for exactly the "
              "model's ops and a suggested tensor arena size.")
@click.option("--json", "as_json", is_flag=True, help="Print the written files as JSON.")
def cmd(model, out_dir, name, lang, tflm, as_json):
    """Write the model as a 16-byte aligned C array with a header describing it."""
    from pathlib import Path

    g = read_model(model)
    arena = None
    if tflm:
        from tinygen.codegen.tflm import tflm_arena_bytes, tflm_available

        if tflm_available():
            arena = tflm_arena_bytes(g.model_bytes)
    paths = convert(g, Path(out_dir), name=name, lang=lang, tflm=tflm, arena_bytes=arena)
    if as_json:
        echo_json({"files": [str(p) for p in paths], "bytes": len(g.model_bytes), "sha256": g.sha256})
    else:
        for p in paths:
            click.echo(f"wrote {p}")
