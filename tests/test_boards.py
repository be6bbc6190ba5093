"""Board data files (boards/*.toml) and tinygen.boards."""

import re

import pytest

from tinygen.boards.catalog import (Board, board_from_dict, boards_dir, data_dir, list_boards,
                            load_board)
from tinygen.errors import TinygenError

EXPECTED = {"qemu-stm32f4", "qemu-cortex-m4", "qemu-cortex-m7", "qemu-cortex-m33", "qemu-cortex-m55", "qemu-riscv32",
            "nucleo-f446re", "nucleo-h743zi2", "nano33ble", "esp32-devkitc", "esp32-c3-devkitm-1", "esp32-s3-devkitc-1"}


def test_data_dir_has_all_data_subdirs():
    root = data_dir()
    for sub in ("boards", "firmware", "templates"):
        assert (root / sub).is_dir(), sub


def test_expected_boards_are_listed():
    assert EXPECTED <= set(list_boards())
    assert list_boards() == sorted(list_boards())


@pytest.mark.parametrize("board_id", sorted(EXPECTED))
def test_board_loads_with_all_fields(board_id):
    b = load_board(board_id)
    assert isinstance(b, Board)
    assert b.id == board_id
    assert b.path == boards_dir() / f"{board_id}.toml"
    for name in ("name", "mcu", "core", "fpu", "build_system", "flash_method", "flash_tool", "cycle_timer"):
        assert isinstance(getattr(b, name), str) and getattr(b, name), name
    assert b.flash.size > 0 and b.ram.size > 0
    assert b.clock_hz > 1_000_000
    assert b.serial.interface and b.serial.baud == 115200
    assert isinstance(b.cflags, tuple)
    if b.build_system == "platformio":
        assert b.platformio is not None
        assert b.platformio.framework == "arduino"
    else:
        assert b.port, "make boards name their runtime port"
        assert (data_dir() / "firmware" / "runtime" / f"board_{b.port}.c").is_file()
        assert b.stack_size < b.ram.size
    if b.emulator is not None:
        assert b.flash_method == "qemu"
    else:
        assert b.serial.usb_vid_pid is not None, "real boards are found by USB VID:PID"
    assert load_board(b) is b


def test_specific_board_facts():
    f4 = load_board("qemu-stm32f4")
    assert f4.emulator.machine == "netduinoplus2"
    assert (f4.flash.origin, f4.flash.size) == (0x08000000, 1 << 20)
    assert (f4.ram.origin, f4.ram.size) == (0x20000000, 128 << 10)
    m4 = load_board("qemu-cortex-m4")
    assert m4.emulator.machine == "mps2-an386"
    assert m4.flash.origin == 0 and m4.ram.origin == 0x20000000 and m4.ram.size >= 1 << 20
    nucleo = load_board("nucleo-f446re")
    assert nucleo.usb_vid_pid_str == "0483:374B" and nucleo.flash_tool == "openocd"
    assert (nucleo.flash.size, nucleo.ram.size) == (512 << 10, 128 << 10)
    nano = load_board("nano33ble")
    assert nano.usb_vid_pid_str == "2341:805A"
    assert (nano.platformio.platform, nano.platformio.board) == ("nordicnrf52", "nano33ble")
    esp = load_board("esp32-devkitc")
    assert esp.usb_vid_pid_str == "10C4:EA60" and esp.flash_tool == "esptool"
    assert (esp.platformio.platform, esp.platformio.board) == ("espressif32", "esp32dev")


def test_unknown_board_names_known_ids():
    with pytest.raises(TinygenError) as exc:
        load_board("no-such-board")
    msg = str(exc.value)
    assert "no-such-board" in msg
    for board_id in EXPECTED:
        assert board_id in msg


def _minimal(**over):
    data = {"id": "x", "name": "X", "mcu": "m", "core": "cortex-m4", "fpu": "none",
            "flash": {"origin": 0, "size": 1024}, "ram": {"origin": 0x20000000, "size": 1024},
            "clock_hz": 16_000_000, "serial": {"interface": "usart1", "baud": 115200},
            "build_system": "make", "flash_method": "openocd", "flash_tool": "openocd",
            "cycle_timer": "systick"}
    data.update(over)
    return data


def test_board_validation_errors():
    assert board_from_dict(_minimal()).id == "x"
    bad = _minimal()
    del bad["ram"]
    with pytest.raises(TinygenError, match="missing field.*ram"):
        board_from_dict(bad, where="x.toml")
    with pytest.raises(TinygenError, match="build_system"):
        board_from_dict(_minimal(build_system="cmake"))
    with pytest.raises(TinygenError, match=r"\[platformio\]"):
        board_from_dict(_minimal(build_system="platformio"))
    with pytest.raises(TinygenError, match="usb_vid_pid"):
        board_from_dict(_minimal(serial={"interface": "u", "baud": 9600, "usb_vid_pid": "nope"}))
    with pytest.raises(TinygenError, match=r"\[flash\]"):
        board_from_dict(_minimal(flash={"origin": 0}))


@pytest.mark.parametrize("board_id", ["qemu-stm32f4", "qemu-cortex-m4", "nucleo-f446re", "nucleo-h743zi2"])
def test_linker_script_renders_board_memory_map(board_id):
    from tinygen.boards.firmware_build import render_linker_script

    b = load_board(board_id)
    text = render_linker_script(b)
    flash = re.search(r"FLASH \(rx\)\s*: ORIGIN = (0x[0-9A-F]+), LENGTH = (0x[0-9A-F]+)", text)
    ram = re.search(r"RAM\s+\(rwx\) : ORIGIN = (0x[0-9A-F]+), LENGTH = (0x[0-9A-F]+)", text)
    assert (int(flash[1], 16), int(flash[2], 16)) == (b.flash.origin, b.flash.size)
    assert (int(ram[1], 16), int(ram[2], 16)) == (b.ram.origin, b.ram.size)
    assert f"__stack_size = 0x{b.stack_size:X};" in text
    assert "PHDRS" in text and ":bss" in text
    assert "0x1000;" in render_linker_script(b, stack_size=0x1000)
