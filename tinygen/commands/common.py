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


def coordinator_option(f):
    return click.option("--coordinator", "coordinator", metavar="HOST[:PORT]",
                        help="labgrid coordinator for --place (default: $LG_COORDINATOR, else 127.0.0.1:20408).")(f)


def place_option(multiple: bool = False):
    text = ("labgrid place of a board on another machine (repeat for several boards); tinygen acquires it, "
            "uses its serial port and releases it (needs tinygen[farm])." if multiple else
            "labgrid place of a board on another machine: tinygen acquires it, uses its serial port and "
            "releases it (needs tinygen[farm]).")
    return click.option("--place", "place", metavar="NAME", multiple=multiple, help=text)


def _link_baud(ctx, param, value):
    if value is None or value in ("auto", "off"):
        return value
    try:
        rate = int(value)
    except ValueError:
        raise click.BadParameter(f"{value!r}: give auto, off or a baud rate") from None
    if rate <= 0:
        raise click.BadParameter(f"{value!r}: give auto, off or a baud rate > 0")
    return rate


def link_baud_option(f):
    """--link-baud auto|off|RATE: raise the serial link's speed after the handshake."""
    return click.option(
        "--link-baud", "link_baud", default="auto", show_default=True, callback=_link_baud,
        help="After the handshake at --baud, switch the link to this rate (the protocol's SET_BAUD, probed, "
             "falling back to --baud on any error): auto = the board's max_baud (boards/*.toml; none on QEMU "
             "and USB CDC boards), off, or a rate.")(f)
