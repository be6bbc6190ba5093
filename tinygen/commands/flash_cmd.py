"""`tinygen flash DIR [--port P | --pty]`"""
from __future__ import annotations

import sys

import click

from tinygen.errors import DeviceError
from .common import coordinator_option, place_option


@click.command("flash")
@click.argument("project_dir", type=click.Path(file_okay=False, path_type=str))
@click.option("--port", help="Real boards: the serial port (default: found by USB VID:PID). "
              "Emulated boards: the local TCP port for the serial line (default: a free one).")
@click.option("--pty", "pty", is_flag=True,
              help="Emulated boards: put the serial port on a pseudo-terminal and print its path "
              "(/dev/pts/N), for tools that open a serial device (e.g. the MLPerf Tiny runner).")
@place_option()
@coordinator_option
def cmd(project_dir, port, pty, place, coordinator):
    """Put a built firmware on its board.

    Emulated boards: start QEMU with the firmware, print socket://127.0.0.1:PORT (its serial
    port; the CPU starts when you connect), or with --pty the path of a pseudo-terminal
    (the CPU starts when a program opens it), and run until Ctrl-C, SIGTERM, SIGHUP or the
    firmware exits.
    Real boards: openocd / st-flash (NUCLEO), PlatformIO upload or esptool (Arduino, ESP32).
    With --place (labgrid): OpenOCD through the place's USB debugger (NUCLEO); an emulated
    board at a place already runs its firmware (checked: the model must match).
    """
    from tinygen.boards.deploy import flash_real, serve_qemu, serve_qemu_pty
    from tinygen.boards.project import load_project

    proj = load_project(project_dir)
    board = proj.board
    say = lambda m: click.echo(m, err=True)  # noqa: E731
    if place:
        from tinygen.device.farm import Farm, flash_place, flasher_problem

        if port or pty:
            raise DeviceError("give --port/--pty or --place, not both")
        why = flasher_problem(board)
        if why:
            raise DeviceError(why)
        with Farm.connect(coordinator, say=lambda m: say(f"tinygen: {m}")) as farm, farm.place(place) as p:
            click.echo(flash_place(p, proj, say=lambda m: say(f"tinygen: {m}")))
        return
    if pty and port:
        raise DeviceError("--pty and --port exclude each other")
    if pty and not board.is_emulated:
        raise DeviceError(f"--pty is for emulated boards; {board.id} is a real board with its own serial port "
                          "(tinygen flash finds it)")
    if board.is_emulated and pty:
        def ready_pty(path):
            click.echo(path)
            sys.stdout.flush()
            when = ("runs already (MLPerf DUT: quiet until asked)" if proj.manifest.get("protocol") == "mlperf"
                    else "starts when a program opens it")
            say(f"{board.id}: serial port on {path} ({board.serial.baud} baud, any setting works); the CPU "
                f"{when}; Ctrl-C stops QEMU")

        status = serve_qemu_pty(proj, on_ready=ready_pty, progress=say)
        if status != 0:
            raise DeviceError(f"firmware exited with status {status}")
        say("firmware exited with status 0")
        return
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
