"""NUCLEO-H743ZI2 (STM32H743, Cortex-M7 at 480 MHz): board data, the bare-metal runtime port
(board_stm32h7.c) and generated projects compiled and linked with arm-none-eabi-gcc, sizes within
the board. There is no QEMU model of the STM32H7: nothing here runs the firmware."""
from __future__ import annotations

import subprocess

import pytest

from tests.support.fwprojects import ALL_MODELS, HAVE_ARM_GCC, model_file, obj_cache  # noqa: F401 (fixture)
from tinygen.boards.catalog import data_dir, load_board
from tinygen.boards.firmware_build import build_firmware, memory_usage, runtime_sources
from tinygen.boards.project import write_project
from tinygen.model.reader import load_int8_model

BOARD = "nucleo-h743zi2"
needs_arm = pytest.mark.skipif(not HAVE_ARM_GCC, reason="arm-none-eabi-gcc not installed")
HELLO = data_dir() / "firmware" / "tests" / "hello_main.c"
# the benchmark-shaped models and float I/O in the default run, the rest of the zoo with --run-slow
DEFAULT_MODELS = {"kws_micro", "ds_cnn_kws", "mobilenet_v1_025_vww", "resnet8_ic", "fc_autoencoder_ad", "float_io"}


def test_board_data():
    b = load_board(BOARD)
    assert (b.core, b.fpu, b.clock_hz, b.port, b.cycle_timer) == ("cortex-m7", "fpv5-d16", 480_000_000,
                                                                   "stm32h7", "dwt")
    assert (b.flash.origin, b.flash.size) == (0x08000000, 2 << 20)
    assert (b.ram.origin, b.ram.size) == (0x24000000, 512 << 10)          # AXI SRAM
    assert b.usb_vid_pid_str == "0483:374E" and not b.is_emulated
    assert b.extra["openocd"]["target"] == "target/stm32h7x.cfg"
    assert [p.name for p in runtime_sources(b)][-1] == "board_stm32h7.c"


@pytest.fixture(scope="module")
def hello(tmp_path_factory):
    if not HAVE_ARM_GCC:
        pytest.skip("arm-none-eabi-gcc not installed")
    out = tmp_path_factory.mktemp("h7")
    return build_firmware(BOARD, [HELLO], out, name="hello")


@needs_arm
def test_runtime_port_links_with_the_board_memory_map(hello):
    use = memory_usage(hello)
    assert 0 < use.flash < 64 << 10 and use.ram < 16 << 10
    script = (hello.parent / "hello.ld").read_text()
    assert "FLASH (rx)  : ORIGIN = 0x08000000, LENGTH = 0x200000" in script
    assert "RAM   (rwx) : ORIGIN = 0x24000000, LENGTH = 0x80000" in script
    syms = subprocess.run(["arm-none-eabi-nm", str(hello)], capture_output=True, text=True, check=True).stdout
    addr = {name: int(a, 16) for a, _, name in (ln.split() for ln in syms.splitlines() if len(ln.split()) == 3)}
    # vector table for the H743's 150 interrupts at the start of flash; the stack at the top of AXI SRAM
    assert addr["tg_vectors"] == 0x08000000 and addr["_estack"] == 0x24080000
    size = subprocess.run(["arm-none-eabi-nm", "-S", str(hello)], capture_output=True, text=True, check=True).stdout
    vec = next(ln for ln in size.splitlines() if ln.endswith(" tg_vectors"))
    assert int(vec.split()[1], 16) == 4 * (16 + 150)


def _project_models():
    for name in ALL_MODELS:
        marks = () if name in DEFAULT_MODELS else (pytest.mark.slow,)
        yield pytest.param(name, marks=marks)


@needs_arm
@pytest.mark.parametrize("name", list(_project_models()))
def test_project_builds_and_fits(name, zoo, tmp_path, obj_cache):
    graph = load_int8_model(model_file(zoo, name))
    proj = write_project(graph, BOARD, tmp_path / "h7")
    obj_cache.make(proj.path, BOARD)
    for ext in (".elf", ".bin", ".hex"):
        assert (proj.path / "build" / f"{proj.name}{ext}").is_file()
    use = memory_usage(proj.firmware)
    fit = proj.manifest["fit"]
    extra = proj.manifest["capture_bytes"] + proj.manifest["capture_input_bytes"]
    ram = use.ram + load_board(BOARD).stack_size
    assert use.flash <= fit["flash"]["needed"] <= fit["flash"]["available"]
    assert ram <= fit["ram"]["needed"] + extra <= fit["ram"]["available"]
    # the build really is for this core: ARMv7E-M with the M7's double-precision FPv5-D16
    attrs = subprocess.run(["arm-none-eabi-readelf", "-A", str(proj.firmware)], capture_output=True, text=True,
                           check=True).stdout
    assert "Tag_CPU_arch: v7E-M" in attrs and "Tag_FP_arch: FPv5/FP-D16" in attrs
    assert "-mcpu=cortex-m7" in (proj.path / "Makefile").read_text()
