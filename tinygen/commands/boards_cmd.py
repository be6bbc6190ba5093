"""`tinygen boards [--json]`"""
from __future__ import annotations

import click

from .common import echo_json


def _kb(n: int) -> str:
    return f"{n // 1024} KB" if n < 1 << 20 or n % (1 << 20) else f"{n >> 20} MB"


@click.command("boards")
@click.option("--json", "as_json", is_flag=True, help="Print the boards as a JSON list.")
def cmd(as_json):
    """List the boards tinygen can generate firmware for."""
    from tinygen.boards.catalog import list_boards, load_board
    from tinygen.boards.fit import available

    rows = []
    for bid in list_boards():
        b = load_board(bid)
        flash_avail, ram_avail = available(b)
        rows.append({
            "id": b.id, "name": b.name, "mcu": b.mcu, "core": b.core, "fpu": b.fpu, "clock_hz": b.clock_hz,
            "flash_bytes": b.flash.size, "ram_bytes": b.ram.size,
            "flash_available": flash_avail, "ram_available": ram_avail,
            "build_system": b.build_system, "flash_method": b.flash_method, "flash_tool": b.flash_tool,
            "emulated": b.is_emulated, "emulator": b.emulator.machine if b.emulator else None,
            "serial": b.serial.interface, "baud": b.serial.baud, "usb_vid_pid": b.usb_vid_pid_str,
            "platformio": ({"platform": b.platformio.platform, "board": b.platformio.board,
                            "framework": b.platformio.framework} if b.platformio else None),
        })
    if as_json:
        echo_json(rows)
        return
    header = ("BOARD", "NAME", "MCU", "CLOCK", "FLASH", "RAM", "BUILD", "FLASH WITH")
    table = [header]
    for r in rows:
        how = f"QEMU {r['emulator']}" if r["emulated"] else f"{r['flash_tool']} (USB {r['usb_vid_pid']})"
        table.append((r["id"], r["name"], r["mcu"], f"{r['clock_hz'] // 1_000_000} MHz", _kb(r["flash_bytes"]),
                      _kb(r["ram_bytes"]), r["build_system"], how))
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
