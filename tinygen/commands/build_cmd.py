"""`tinygen build DIR [--json]`"""
from __future__ import annotations

import click

from .common import echo_json


@click.command("build")
@click.argument("project_dir", type=click.Path(file_okay=False, path_type=str))
@click.option("--json", "as_json", is_flag=True, help="Print the result (sizes, firmware path) as JSON.")
def cmd(project_dir, as_json):
    """Build a firmware project (make + arm-none-eabi-gcc, or PlatformIO) and print its size."""
    from tinygen.boards.deploy import build_project
    from tinygen.boards.project import load_project

    proj = load_project(project_dir)
    res = build_project(proj, progress=lambda m: click.echo(m, err=True))
    if as_json:
        echo_json(res.as_dict())
    else:
        click.echo(f"built {res.firmware} for {res.board} in {res.seconds:.1f} s: {res.summary()}")
