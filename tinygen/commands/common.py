"""Small helpers shared by the CLI commands."""
from __future__ import annotations

import json
import sys

import click

model_argument = click.argument("model", type=click.Path(dir_okay=True, path_type=str))


def echo_json(obj) -> None:
    click.echo(json.dumps(obj, indent=2, default=_default))


def _default(o):
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def progress_enabled() -> bool:
    return sys.stderr.isatty()
