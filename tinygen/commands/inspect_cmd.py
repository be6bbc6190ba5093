"""`tinygen inspect MODEL [--json]`"""
from __future__ import annotations

import click

from tinygen.analysis.inspect import format_table, model_stats
from tinygen.model.reader import check_full_int8, read_model
from .common import echo_json, model_argument


@click.command("inspect")
@model_argument
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the table.")
@click.option("--allow-float", is_flag=True, help="Describe float or hybrid models too instead of refusing them.")
def cmd(model, as_json, allow_float):
    """Show a model's ops, MACs, parameter and activation sizes, I/O quantization and tinygen support."""
    g = read_model(model)
    if not allow_float:
        try:
            check_full_int8(g)
        except Exception as e:
            e.args = (f"{g.name}.tflite: {e.args[0]} (use --allow-float to inspect it anyway)",)
            raise
    stats = model_stats(g)
    if as_json:
        echo_json(stats.to_dict())
    else:
        click.echo(format_table(stats))
