"""Board descriptions: one TOML file per board in `boards/`.

A board file says what the firmware needs to know about a target: the core and FPU
(compiler flags), the usable flash and RAM regions (linker script), the serial link
(host side), how to build and flash it, and the QEMU machine if it can be emulated.

    >>> from tinygen.boards import load_board
    >>> load_board("qemu-cortex-m4").emulator.machine
    'mps2-an386'

The data files live next to `firmware/` and `templates/` in one directory returned by
`data_dir()`: the repository root in a source checkout, or an installed copy.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from tinygen.errors import TinygenError
from tinygen.paths import data_dir  # noqa: F401  (re-exported: boards live in the data dir)

BUILD_SYSTEMS = ("make", "platformio")
CYCLE_TIMERS = ("systick", "dwt", "ccount", "mcycle")
FPUS = ("fpv4-sp-d16", "fpv5-sp-d16", "fpv5-d16", "auto", "none", "xtensa-sp")



def boards_dir() -> Path:
    return data_dir() / "boards"


@dataclass(frozen=True)
class MemoryRegion:
    origin: int
    size: int

    @property
    def end(self) -> int:
        return self.origin + self.size


@dataclass(frozen=True)
class SerialConfig:
    interface: str
    baud: int
    usb_vid_pid: tuple[int, int] | None = None  # (vid, pid) of the USB serial device, if any
    max_baud: int | None = None  # fastest rate board and adapter run reliably (SET_BAUD after the handshake)


@dataclass(frozen=True)
class PlatformioConfig:
    platform: str
    board: str
    framework: str


@dataclass(frozen=True)
class EmulatorConfig:
    machine: str
    serial_index: int = 0  # which of the machine's serial ports the firmware uses
    binary: str = "qemu-system-arm"  # the QEMU system emulator
    args: tuple[str, ...] = ()  # extra QEMU arguments (e.g. "-bios", "none")


@dataclass(frozen=True)
class Board:
    id: str
    name: str
    mcu: str
    core: str
    fpu: str
    flash: MemoryRegion
    ram: MemoryRegion
    clock_hz: int
    serial: SerialConfig
    build_system: str
    flash_method: str
    flash_tool: str
    cycle_timer: str
    cflags: tuple[str, ...] = ()
    platformio: PlatformioConfig | None = None
    emulator: EmulatorConfig | None = None
    port: str | None = None          # tinygen runtime port: firmware/runtime/board_<port>.c
    stack_size: int = 0x2000         # bytes reserved at the top of RAM for the main stack
    extra: dict[str, Any] = field(default_factory=dict, compare=False)  # other tables ([openocd], ...)
    path: Path | None = field(default=None, compare=False)

    @property
    def is_emulated(self) -> bool:
        return self.emulator is not None

    @property
    def usb_vid_pid_str(self) -> str | None:
        if self.serial.usb_vid_pid is None:
            return None
        vid, pid = self.serial.usb_vid_pid
        return f"{vid:04X}:{pid:04X}"


_REQUIRED = ("id", "name", "mcu", "core", "fpu", "flash", "ram", "clock_hz", "serial",
             "build_system", "flash_method", "flash_tool", "cycle_timer")
_KNOWN = set(_REQUIRED) | {"cflags", "platformio", "emulator", "port", "stack_size"}


def _parse_max_baud(value, baud: int, where: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < baud:
        raise TinygenError(f"{where}: [serial] max_baud must be an integer >= baud ({baud}), got {value!r}")
    return value


def _parse_vid_pid(text: str, where: str) -> tuple[int, int]:
    try:
        vid, pid = text.split(":")
        return int(vid, 16), int(pid, 16)
    except ValueError:
        raise TinygenError(f"{where}: usb_vid_pid must look like '0483:374B', got {text!r}") from None


def _region(raw: Any, key: str, where: str) -> MemoryRegion:
    if not isinstance(raw, dict) or not isinstance(raw.get("origin"), int) or not isinstance(raw.get("size"), int):
        raise TinygenError(f"{where}: [{key}] needs integer 'origin' and 'size'")
    if raw["size"] <= 0 or raw["origin"] < 0:
        raise TinygenError(f"{where}: [{key}] has a bad origin/size")
    return MemoryRegion(raw["origin"], raw["size"])


_CHOICES = (("build_system", BUILD_SYSTEMS), ("cycle_timer", CYCLE_TIMERS), ("fpu", FPUS))


def _serial(raw: Any, where: str) -> SerialConfig:
    if not isinstance(raw, dict) or "interface" not in raw or "baud" not in raw:
        raise TinygenError(f"{where}: [serial] needs 'interface' and 'baud'")
    vid_pid = raw.get("usb_vid_pid")
    return SerialConfig(
        interface=str(raw["interface"]),
        baud=int(raw["baud"]),
        usb_vid_pid=_parse_vid_pid(vid_pid, where) if vid_pid else None,
        max_baud=_parse_max_baud(raw.get("max_baud"), int(raw["baud"]), where),
    )


def _strings(value: Any, what: str, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise TinygenError(f"{where}: {what} must be a list of strings")
    return tuple(value)


def _platformio(data: dict[str, Any], where: str) -> PlatformioConfig | None:
    if "platformio" in data:
        raw = data["platformio"]
        try:
            return PlatformioConfig(platform=raw["platform"], board=raw["board"], framework=raw["framework"])
        except (KeyError, TypeError):
            raise TinygenError(f"{where}: [platformio] needs 'platform', 'board' and 'framework'") from None
    if data["build_system"] == "platformio":
        raise TinygenError(f"{where}: build_system = 'platformio' needs a [platformio] table")
    return None


def _emulator(data: dict[str, Any], where: str) -> EmulatorConfig | None:
    if "emulator" not in data:
        return None
    raw = data["emulator"]
    if not isinstance(raw, dict) or "machine" not in raw:
        raise TinygenError(f"{where}: [emulator] needs 'machine'")
    args = _strings(raw.get("args", []), "[emulator] args", where)
    return EmulatorConfig(machine=str(raw["machine"]), serial_index=int(raw.get("serial_index", 0)),
                          binary=str(raw.get("binary", "qemu-system-arm")), args=args)


def board_from_dict(data: dict[str, Any], where: str = "<board>", path: Path | None = None) -> Board:
    """Validate a parsed board table and build a `Board` (errors name `where`)."""
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise TinygenError(f"{where}: missing field(s) {', '.join(missing)}")
    serial = _serial(data["serial"], where)
    for key, choices in _CHOICES:
        if data[key] not in choices:
            raise TinygenError(f"{where}: {key} must be one of {choices}, got {data[key]!r}")
    pio = _platformio(data, where)
    emu = _emulator(data, where)
    cflags = _strings(data.get("cflags", []), "cflags", where)

    return Board(
        id=str(data["id"]),
        name=str(data["name"]),
        mcu=str(data["mcu"]),
        core=str(data["core"]),
        fpu=str(data["fpu"]),
        flash=_region(data["flash"], "flash", where),
        ram=_region(data["ram"], "ram", where),
        clock_hz=int(data["clock_hz"]),
        serial=serial,
        build_system=data["build_system"],
        flash_method=str(data["flash_method"]),
        flash_tool=str(data["flash_tool"]),
        cycle_timer=str(data["cycle_timer"]),
        cflags=cflags,
        platformio=pio,
        emulator=emu,
        port=data.get("port"),
        stack_size=int(data.get("stack_size", 0x2000)),
        extra={k: v for k, v in data.items() if k not in _KNOWN},
        path=path,
    )


def _board_files() -> dict[str, Path]:
    return {p.stem: p for p in sorted(boards_dir().glob("*.toml"))}


def list_boards() -> list[str]:
    """Ids of all known boards, sorted."""
    return sorted(_board_files())


def load_board(board_id: str | Board) -> Board:
    """Load `boards/<board_id>.toml`; a `Board` is returned unchanged."""
    if isinstance(board_id, Board):
        return board_id
    files = _board_files()
    path = files.get(board_id)
    if path is None:
        known = ", ".join(sorted(files)) or "(none)"
        raise TinygenError(f"unknown board {board_id!r}; known boards: {known}")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise TinygenError(f"{path}: invalid TOML: {exc}") from None
    board = board_from_dict(data, where=str(path), path=path)
    if board.id != board_id:
        raise TinygenError(f"{path}: id {board.id!r} does not match the file name")
    return board
