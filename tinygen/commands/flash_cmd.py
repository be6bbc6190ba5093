"""`tinygen flash DIR [--port P]`"""
from __future__ import annotations

import click

from tinygen.errors import DeviceError


@click.command("flash")
@click.argument("project_dir", type=click.Path(file_okay=False, path_type=str))
@click.option("--port", help="Real boards: the serial port (default: found by USB VID:PID). "
              "Emulated boards: the local TCP port for the serial line (default: a free one).")
def cmd(project_dir, port):
    """Put a built firmware on its board.

    Emulated boards: start QEMU with the firmware, print socket://127.0.0.1:PORT (its serial
    port; the CPU starts when you connect) and run until Ctrl-C or the firmware exits.
    Real boards: openocd / st-flash (NUCLEO), PlatformIO upload or esptool (Arduino, ESP32).
    """
    from tinygen.boards.deploy import flash_real, serve_qemu
    from tinygen.boards.project import load_project

    proj = load_project(project_dir)
    board = proj.board
    say = lambda m: click.echo(m, err=True)  # noqa: E731
    if board.is_emulated:
        tcp = None
        if port:
            text = port.rsplit(":", 1)[-1]
            if not text.isdigit() or not 0 < int(text) < 65536:
                raise DeviceError(f"--port {port}: give a TCP port number for an emulated board")
            tcp = int(text)

        def ready(url):
            click.echo(url)
            say(f"{board.id}: QEMU is waiting for a connection on {url} (e.g. tinygen monitor {url}); "
                "Ctrl-C stops it")

        status = serve_qemu(proj, tcp, on_ready=ready, progress=say)   # Ctrl-C: QEMU stopped, exit 130
        if status != 0:
            raise DeviceError(f"firmware exited with status {status}")
        say("firmware exited with status 0")
        return
    device = flash_real(proj, port, progress=say)
    click.echo(f"flashed {proj.firmware.name} to {board.name}; serial port {device} "
               f"({board.serial.baud} baud)")
