"""The `tinygen` command line: a click group; each command lives in tinygen/commands/."""
from __future__ import annotations

import importlib
import os
import sys

import click

from tinygen import __version__
from tinygen.errors import Terminated, TinygenError

# command name -> module in tinygen.commands defining a click command called `cmd`
COMMANDS = {
    "inspect": "inspect_cmd",
    "convert": "convert_cmd",
    "emulate": "emulate_cmd",
    "quantize": "quantize_cmd",
    "validate": "validate_cmd",
    "profile": "profile_cmd",
    "report": "report_cmd",
    "monitor": "monitor_cmd",
    "boards": "boards_cmd",
    "generate": "generate_cmd",
    "build": "build_cmd",
    "flash": "flash_cmd",
    "run": "run_cmd",
    "benchmark": "benchmark_cmd",
}


class LazyGroup(click.Group):
    """Imports a command's module only when it runs (keeps `tinygen --help` fast)."""

    def list_commands(self, ctx):
        return sorted(n for n, m in COMMANDS.items() if importlib.util.find_spec(f"tinygen.commands.{m}"))

    def get_command(self, ctx, name):
        mod = COMMANDS.get(name)
        if mod is None:
            return None
        try:
            return importlib.import_module(f"tinygen.commands.{mod}").cmd
        except ModuleNotFoundError as e:
            if e.name == f"tinygen.commands.{mod}":
                return None
            raise


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="tinygen")
@click.option("--debug", is_flag=True, envvar="TINYGEN_DEBUG", help="Show tracebacks for errors.")
@click.pass_context
def cli(ctx, debug):
    """tinygen: int8 TensorFlow Lite models to bit-exact microcontroller firmware."""
    ctx.obj = {"debug": debug}


def main(argv=None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    debug = "--debug" in (argv if argv is not None else sys.argv[1:]) or bool(os.environ.get("TINYGEN_DEBUG"))
    from tinygen.boards.processes import stop_on_signals

    try:
        with stop_on_signals():   # SIGTERM/SIGHUP unwind like Ctrl-C: children (QEMU) are stopped
            rv = cli.main(args=argv, prog_name="tinygen", standalone_mode=False)
    except TinygenError as e:
        if debug:
            raise
        click.echo(f"tinygen: error: {e}", err=True)
        return e.exit_code
    except click.exceptions.Abort as e:
        if isinstance(e.__cause__, Terminated):
            return _terminated(e.__cause__)
        click.echo("tinygen: aborted", err=True)
        return 130
    except Terminated as e:
        return _terminated(e)
    except KeyboardInterrupt:
        click.echo("tinygen: interrupted", err=True)
        return 130
    except click.ClickException as e:
        e.show()
        return e.exit_code
    except BrokenPipeError:
        return 0
    return rv if isinstance(rv, int) else 0   # ctx.exit(code) of a command


def _terminated(e: Terminated) -> int:
    click.echo(f"tinygen: stopped by {e.signame}", err=True)
    return e.exit_code


def entry():
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    entry()
