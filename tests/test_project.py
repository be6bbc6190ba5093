"""Firmware projects (tinygen.project, tinygen.fit): every board, every model.

Bare-metal projects are built with their own Makefile (nucleo-f446re here, the QEMU boards in
test_run_qemu.py). PlatformIO projects are checked offline: platformio.ini validates, the
model + kernel + app sources compile with arm-none-eabi-gcc -mcpu=cortex-m4 (nano33ble) and
gcc (ESP32), the sketch compiles against a stub Arduino.h, and the ESP32 project's sources
run on the host (stub Serial) and print the emulator's self-test output.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import zlib

import numpy as np
import pytest

from tests.support.fwprojects import (ALL_MODELS, ARDUINO_STUB, EXAMPLE, HAVE_ARM_GCC, HAVE_GCC, big_activation_model,
                                      big_weights_model, make, model_file, obj_cache, run)  # noqa: F401 (fixture)
from tinygen.boards.catalog import data_dir, list_boards, load_board
from tinygen.cli import main
from tinygen.errors import TinygenError
from tinygen.boards.fit import boards_that_fit, check_fit, estimate
from tinygen.boards.project import (MANIFEST, TEST_SEED, lcg_bytes, load_project, selftest_inputs, write_project)
from tinygen.model.reader import load_int8_model, parse_model

BOARDS = ["qemu-stm32f4", "qemu-cortex-m4", "nucleo-f446re", "nano33ble", "esp32-devkitc"]
needs_arm = pytest.mark.skipif(not HAVE_ARM_GCC, reason="arm-none-eabi-gcc not installed")
needs_gcc = pytest.mark.skipif(not HAVE_GCC, reason="gcc/g++ not installed")

APP_DEFINES = ["-DTG_ARDUINO=1", "-DTG_LAYER_TIMING", "-DTG_LAYER_OUTPUT"]
ARM_M4 = ["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]
C_WARN = ["-O2", "-std=c99", "-Wall", "-Wextra", "-Werror"]


@pytest.fixture(scope="module")
def graphs(zoo):
    return {name: load_int8_model(model_file(zoo, name)) for name in ALL_MODELS}


def test_board_ids():
    assert set(BOARDS) <= set(list_boards())


# ------------------------------------------------------------------ test vector

def test_lcg_matches_the_firmware_definition():
    # x = x * 1664525 + 1013904223 mod 2^32, byte = x >> 24
    x, expect = 1, []
    for _ in range(5):
        x = (x * 1664525 + 1013904223) % 2**32
        expect.append(x >> 24)
    assert lcg_bytes(5, 1).tolist() == expect
    assert lcg_bytes(3, 0).tolist() == [1013904223 >> 24, ((1013904223 * 1664525 + 1013904223) % 2**32) >> 24,
                                        lcg_bytes(3, 0)[2]]


def test_test_inputs_shapes_and_float_inputs(graphs):
    g = graphs["kws_micro"]
    (x,) = selftest_inputs(g)
    assert x.dtype == np.int8 and x.shape == tuple(g.input_tensors[0].shape)
    assert x.reshape(-1).view(np.uint8).tolist() == lcg_bytes(x.size, TEST_SEED).tolist()
    (xf,) = selftest_inputs(graphs["float_io"])
    assert xf.dtype == np.float32 and np.isfinite(xf).all() and len(np.unique(xf)) > 10


# ------------------------------------------------------------------ every board, every model

@pytest.mark.parametrize("name", ALL_MODELS)
def test_every_board_project(name, graphs, tmp_path):
    g = graphs[name]
    for board in BOARDS:
        b = load_board(board)
        proj = write_project(g, board, tmp_path / board)
        root = proj.path
        m = json.loads((root / MANIFEST).read_text())
        assert m == proj.manifest and m["board"] == board and m["model"] == g.name
        assert m["model_sha256"] == g.sha256 and (root / m["model_file"]).read_bytes() == g.model_bytes
        assert len(m["layers"]) == len(g.operators) and m["expected"]["seed"] == TEST_SEED
        assert m["layers"][-1]["kept"] or g.operators[-1].outputs[0] not in g.outputs
        exp = m["expected"]
        for x, e in zip(selftest_inputs(g), exp["inputs"]):
            assert e == {"bytes": x.nbytes, "crc32": f"0x{zlib.crc32(x.tobytes()):08x}"}
        assert (root / "README.md").is_file()
        texts = {p: p.read_text(errors="replace") for p in root.rglob("*") if p.is_file() and p.suffix != ".tflite"}
        # standalone: nothing points back into the tinygen installation
        assert not [p for p, t in texts.items() if str(data_dir()) in t]
        if b.build_system == "make":
            for f in ("Makefile", "linker.ld", "app/tg_main.c", "app/tg_fw.c", "app/tg_app_model.c",
                      "app/tg_fw_config.h", "protocol/tg_proto.c", "runtime/startup_cortexm.c",
                      f"runtime/board_{b.port}.c", f"model/{proj.name}_model.c"):
                assert (root / f).is_file(), f
            assert not (root / "platformio.ini").exists()
        else:
            from platformio.project.config import ProjectConfig

            cfg = ProjectConfig(str(root / "platformio.ini"))
            assert cfg.validate() and not cfg.warnings
            env = f"env:{board}"
            assert cfg.get(env, "platform") == b.platformio.platform
            assert cfg.get(env, "board") == b.platformio.board
            assert cfg.get(env, "framework") == [b.platformio.framework]
            flags = " ".join(cfg.get(env, "build_flags"))
            assert "-DTG_LAYER_TIMING" in flags and "-DTG_ARDUINO=1" in flags
            for f in ("main.cpp", "tg_port_arduino.cpp", "tg_fw.c", "tg_app_model.c", "tg_proto.c", "tg_io.c",
                      f"{proj.name}_model.c", "tg_kernels.h"):
                assert (root / "src" / f).is_file(), f
            assert "void setup()" in texts[root / "src" / "main.cpp"]
            assert not (root / "Makefile").exists()
            _check_pio_sources(proj, tmp_path / f"obj-{board}")


def _check_pio_sources(proj, objs):
    """The kernels, protocol and runtime helpers of a PlatformIO project are byte-identical copies
    (compiled once in test_pio_shared_sources_compile); the model code and the model-specific app
    sources compile with arm-none-eabi-gcc -mcpu=cortex-m4 (nano33ble) or gcc (ESP32)."""
    cc = ARM_M4 if proj.board.id == "nano33ble" else ["gcc"]
    src = proj.path / "src"
    for f in src.glob("tg_*.[ch]"):
        if f.name == "tg_fw_config.h":
            continue
        orig = [d / f.name for d in (KERNEL_DIR, *(data_dir() / "firmware" / x for x in ("app", "protocol", "runtime")))
                if (d / f.name).is_file()]
        assert orig and orig[0].read_bytes() == f.read_bytes(), f
    if shutil.which(cc[0]) is None:
        return
    objs.mkdir()
    run([*cc, *C_WARN, *APP_DEFINES, f"-I{src}", "-c", src / f"{proj.name}_model.c", src / "tg_fw.c",
         src / "tg_app_model.c"], cwd=objs)


def test_makefile_flags_come_from_firmware_build(tmp_path, graphs):
    from tinygen.boards.firmware_build import compile_flags, link_flags
    from tinygen.boards.project import MODEL_CFLAGS

    proj = write_project(graphs["kws_micro"], "nucleo-f446re", tmp_path / "p")
    text = (proj.path / "Makefile").read_text()
    b = load_board("nucleo-f446re")
    cflags = compile_flags(b, MODEL_CFLAGS, ["model", "protocol", "app"], runtime_include="runtime")
    assert f"CFLAGS := {' '.join(shlex.quote(f) for f in cflags)}\n" in text
    assert " ".join(link_flags(b, "linker.ld", "$(BUILD)/$(NAME).map")) in text
    assert "openocd -f interface/stlink.cfg -f target/stm32f4x.cfg" in text.replace("$(OPENOCD)", "openocd")


# ------------------------------------------------------------------ builds

# The NUCLEO build differs from qemu-stm32f4's (every model, test_run_qemu.py) only in the board
# defines (clock setup, USART2): the example, the benchmark-shaped models and float I/O here.
NUCLEO_MODELS = ["kws_micro", "ds_cnn_kws", "mobilenet_v1_025_vww", "resnet8_ic", "fc_autoencoder_ad", "float_io",
                 "add_mul"]


@needs_arm
@pytest.mark.parametrize("name", NUCLEO_MODELS)
def test_nucleo_project_builds(name, graphs, tmp_path, obj_cache):
    from tinygen.boards.firmware_build import memory_usage

    proj = write_project(graphs[name], "nucleo-f446re", tmp_path / "nucleo")
    obj_cache.make(proj.path, "nucleo-f446re")
    for ext in (".elf", ".bin", ".hex"):
        assert (proj.path / "build" / f"{proj.name}{ext}").is_file()
    use = memory_usage(proj.firmware)
    fit = proj.manifest["fit"]
    extra = proj.manifest["capture_bytes"] + proj.manifest["capture_input_bytes"]   # layer capture, when room
    ram = use.ram + load_board("nucleo-f446re").stack_size
    assert use.flash <= fit["flash"]["needed"] and ram <= fit["ram"]["needed"] + extra <= fit["ram"]["available"]


KERNEL_DIR = data_dir() / "firmware" / "kernels"
SHARED_C = [data_dir() / "firmware" / "protocol" / "tg_proto.c", data_dir() / "firmware" / "runtime" / "tg_io.c",
            data_dir() / "firmware" / "runtime" / "tg_bench.c"]
INCLUDES = [f"-I{data_dir() / 'firmware' / d}" for d in ("kernels", "protocol", "runtime", "app")]


@needs_arm
@needs_gcc
def test_pio_shared_sources_compile(tmp_path):
    """Every kernel, the protocol and the runtime helpers a PlatformIO project carries (byte-identical
    copies, checked per model below) compile for Cortex-M4 (nano33ble) and with gcc (ESP32)."""
    sources = sorted(KERNEL_DIR.glob("*.c")) + SHARED_C
    for sub, cc in (("arm", [*ARM_M4]), ("gcc", ["gcc"])):
        out = tmp_path / sub
        out.mkdir()
        run([*cc, *C_WARN, *APP_DEFINES, *INCLUDES, "-c", *sources], cwd=out)
        assert len(list(out.glob("*.o"))) == len(sources)


@needs_arm
def test_nano33ble_sketch_compiles_against_stub_core(graphs, tmp_path):
    proj = write_project(graphs["kws_micro"], "nano33ble", tmp_path / "nano")
    src = proj.path / "src"
    run(["arm-none-eabi-g++", "-mcpu=cortex-m4", "-mthumb", "-std=gnu++14", "-Wall", "-Wextra", "-Werror",
         "-fsyntax-only", *APP_DEFINES, "-DTG_SERIAL_WAIT_HOST=1", f"-I{ARDUINO_STUB}", f"-I{src}",
         src / "main.cpp", src / "tg_port_arduino.cpp"])


def _host_build_esp32(proj, tmp_path):
    src = proj.path / "src"
    objs = tmp_path / "obj"
    objs.mkdir()
    defines = [*APP_DEFINES, "-DARDUINO_ARCH_ESP32"]
    run(["gcc", *C_WARN, *defines, f"-I{src}", "-c", *sorted(src.glob("*.c"))], cwd=objs)
    exe = tmp_path / "esp32_host"
    run(["g++", "-O1", "-std=gnu++11", "-Wall", "-Wextra", "-Werror", *defines, f"-I{ARDUINO_STUB}", f"-I{src}",
         src / "main.cpp", src / "tg_port_arduino.cpp", ARDUINO_STUB / "arduino_host.cpp",
         *sorted(objs.glob("*.o")), "-o", exe])
    return exe


@needs_gcc
@pytest.mark.parametrize("name", ["kws_micro", "float_io", "add_mul"])
def test_esp32_sketch_runs_on_host_and_matches_emulator(name, graphs, tmp_path):
    """The ESP32 project (all of src/, sketch included) built for the host with a stub Serial:
    banner and self-test equal the emulator's, and the serial protocol answers."""
    from tinygen.device.selftest import compare_selftest
    from tinygen.device.link import ProcessSerial
    from tinygen.device.protocol import Client

    proj = write_project(graphs[name], "esp32-devkitc", tmp_path / "esp32")
    exe = _host_build_esp32(proj, tmp_path)
    text = []
    with ProcessSerial([str(exe)]) as ser:
        client = Client(ser, on_text=text.append)
        client.sync(timeout=10)
        info = client.info()
        assert info.model_name == graphs[name].name and info.board_name == "esp32-devkitc"
        assert info.num_layers == len(graphs[name].operators)
    banner, selftest = json.loads(text[0]), json.loads(text[1])["selftest"]
    assert banner["model"] == graphs[name].name and banner["board"] == "esp32-devkitc"
    assert banner["sha256"] == graphs[name].sha256[:16] and banner["clock_hz"] == 240_000_000
    assert compare_selftest(selftest, proj.manifest["expected"]) == []


# ------------------------------------------------------------------ fit check

def test_fit_refuses_too_big_arena_and_names_boards(tmp_path):
    g = parse_model(big_activation_model(), name="bigact")
    out = tmp_path / "never"
    with pytest.raises(TinygenError) as ei:
        write_project(g, "qemu-stm32f4", out)
    msg = str(ei.value)
    assert "\n" not in msg and "does not fit qemu-stm32f4" in msg and "RAM" in msg
    assert re.search(r"\(arena 28\d\.\d KB \+ stack 8\.0 KB \+ runtime ~\d+\.\d KB\) of 128\.0 KB", msg), msg
    # 4 MB RAM on the emulated boards; the STM32H743's arena goes to its 512 KB AXI SRAM
    big_ram = ["nucleo-h743zi2", "qemu-cortex-m33", "qemu-cortex-m4", "qemu-cortex-m55", "qemu-cortex-m7", "qemu-riscv32"]
    assert msg.endswith("; it fits: " + ", ".join(big_ram)), msg
    assert not out.exists() and not list(tmp_path.iterdir())       # nothing written
    assert boards_that_fit(g) == big_ram
    assert check_fit(g, "qemu-cortex-m4").fits


def test_fit_refuses_too_many_weights(tmp_path):
    g = parse_model(big_weights_model(), name="bigw")
    with pytest.raises(TinygenError, match=r"does not fit nucleo-f446re: needs flash .*weights 1104.3 KB.* of 512.0 KB"):
        write_project(g, "nucleo-f446re", tmp_path / "x")
    r = estimate(g, "nucleo-f446re")
    assert not r.fits_flash and r.fits_ram
    assert not list(tmp_path.iterdir())


def test_fit_checks_each_region_on_a_board_with_a_rodata_region(tmp_path):
    """qemu-cortex-m55: code runs from the 512 KB ITCM, the weights sit in the 8 MB QSPI flash
    ([rodata]), the arena in SRAM; each region is its own budget and a misfit names it."""
    import dataclasses

    g = parse_model(big_weights_model(), name="bigw")            # 1104 KB of weights > 512 KB ITCM
    m55 = load_board("qemu-cortex-m55")
    r = estimate(g, m55)
    assert r.split and r.fits and r.weights > m55.flash.size
    regions = {x["region"]: x for x in r.as_dict()["regions"]}
    assert set(regions) == {"ITCM", "QSPI flash", "RAM"}
    assert regions["ITCM"]["available"] == m55.flash.size == 512 * 1024
    assert regions["ITCM"]["needed"] == r.base_flash + r.code < regions["ITCM"]["available"]
    assert regions["QSPI flash"]["needed"] == r.weights and regions["QSPI flash"]["available"] == 8 << 20
    # weights over the [rodata] region: refused naming it (the code still fits the ITCM)
    small_ro = dataclasses.replace(m55, extra={**m55.extra, "rodata": {**m55.extra["rodata"], "size": 1 << 20}})
    with pytest.raises(TinygenError) as ei:
        check_fit(g, small_ro)
    msg = str(ei.value)
    assert "\n" not in msg and "needs QSPI flash 1104.3 KB (weights) of 1024.0 KB;" in msg and "ITCM" not in msg
    # code over the code region: refused naming it, though code + weights < both regions together
    small_code = dataclasses.replace(m55, flash=dataclasses.replace(m55.flash, size=16 * 1024))
    r2 = estimate(g, small_code)
    assert r2.flash_needed < small_code.flash.size + (8 << 20) and not r2.fits_code and r2.fits_rodata
    with pytest.raises(TinygenError, match=r"needs ITCM 2\d\.\d KB \(code ~.*\) of 16\.0 KB; it fits: ") as ei:
        write_project(g, small_code, tmp_path / "x")
    assert "QSPI" not in str(ei.value) and not list(tmp_path.iterdir())
    # a board without [rodata] keeps one flash budget for code + weights
    assert not estimate(g, "nucleo-f446re").split


def test_generate_prints_the_estimate_per_region(tmp_path, capsys):
    assert main(["generate", str(EXAMPLE), "--board", "qemu-cortex-m55", "-o", str(tmp_path / "m55")]) == 0
    out = capsys.readouterr().out
    assert re.search(r"estimate: ITCM [\d.]+ KB of 512 KB, QSPI flash [\d.]+ KB of 8192 KB, RAM [\d.]+ KB of 4096 KB", out), out
    fit = load_project(tmp_path / "m55").manifest["fit"]
    assert [r["region"] for r in fit["regions"]] == ["ITCM", "QSPI flash", "RAM"] and all(r["fits"] for r in fit["regions"])


def test_fit_every_model_fits_every_board_that_claims_it(graphs):
    """mobilenet (55 KB arena) fits the 128 KB boards; the estimates are positive and ordered."""
    for name, g in graphs.items():
        for board in BOARDS:
            r = estimate(g, board)
            assert r.flash_needed > r.weights and r.ram_needed > r.arena
            assert r.fits, (name, board, r.summary())


def test_generate_cli_refuses_with_one_line(tmp_path, capsys):
    p = tmp_path / "big.tflite"
    p.write_bytes(big_activation_model())
    rc = main(["generate", str(p), "--board", "nano33ble", "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "does not fit nano33ble" in err and "qemu-cortex-m4" in err
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------ writing rules

def test_refuses_foreign_directory_and_replaces_own(tmp_path, graphs):
    g = graphs["kws_micro"]
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(TinygenError, match="not a tinygen project; refusing"):
        write_project(g, "qemu-stm32f4", foreign)
    assert (foreign / "notes.txt").read_text() == "mine" and len(list(foreign.iterdir())) == 1

    out = tmp_path / "proj"
    write_project(g, "qemu-stm32f4", out)
    (out / "stale.c").write_text("old")
    write_project(g, "qemu-cortex-m4", out)            # replaces the whole previous project
    assert load_project(out).manifest["board"] == "qemu-cortex-m4" and not (out / "stale.c").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["foreign", "proj"]   # no temp dirs left

    empty = tmp_path / "empty"
    empty.mkdir()
    write_project(g, "nano33ble", empty)
    assert (empty / "platformio.ini").is_file()


def test_error_midway_leaves_nothing(tmp_path, graphs, monkeypatch):
    import tinygen.codegen.generator as codegen

    def broken(*a, **kw):
        raise TinygenError("codegen exploded")

    monkeypatch.setattr(codegen, "generate", broken)
    with pytest.raises(TinygenError, match="exploded"):
        write_project(graphs["kws_micro"], "qemu-stm32f4", tmp_path / "p")
    assert list(tmp_path.iterdir()) == []
    # an existing project survives a failed regeneration untouched
    monkeypatch.undo()
    proj = write_project(graphs["kws_micro"], "qemu-stm32f4", tmp_path / "p")
    before = sorted(p.relative_to(proj.path) for p in proj.path.rglob("*"))
    monkeypatch.setattr(codegen, "generate", broken)
    with pytest.raises(TinygenError):
        write_project(graphs["kws_micro"], "qemu-cortex-m4", tmp_path / "p")
    assert sorted(p.relative_to(proj.path) for p in proj.path.rglob("*")) == before
    assert load_project(tmp_path / "p").manifest["board"] == "qemu-stm32f4"
    assert [p.name for p in tmp_path.iterdir()] == ["p"]


def test_load_project_errors(tmp_path):
    with pytest.raises(TinygenError, match="no such project directory"):
        load_project(tmp_path / "missing")
    with pytest.raises(TinygenError, match="not a tinygen project"):
        load_project(tmp_path)


# ------------------------------------------------------------------ CLI

def test_boards_cli(capsys):
    assert main(["boards"]) == 0
    out = capsys.readouterr().out
    for b in BOARDS:
        assert b in out
    assert "QEMU netduinoplus2" in out and "openocd (USB 0483:374B)" in out
    assert main(["boards", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    by_id = {r["id"]: r for r in rows}
    assert by_id["esp32-devkitc"]["flash_available"] == 0x140000
    assert by_id["qemu-cortex-m4"]["emulated"] and by_id["nano33ble"]["platformio"]["platform"] == "nordicnrf52"


def test_generate_cli_with_and_without_board(tmp_path, capsys):
    rc = main(["generate", str(EXAMPLE), "-o", str(tmp_path / "c")])
    out = capsys.readouterr().out
    assert rc == 0 and (tmp_path / "c" / "kws_micro_model.c").is_file() and "arena" in out
    assert not (tmp_path / "c" / MANIFEST).exists()
    rc = main(["generate", str(EXAMPLE), "--board", "esp32-devkitc", "-o", str(tmp_path / "e"), "--name", "kws",
               "--json"])
    res = json.loads(capsys.readouterr().out)
    assert rc == 0 and res["board"] == "esp32-devkitc" and res["name"] == "kws"
    assert (tmp_path / "e" / "src" / "kws_model.h").is_file()
    rc = main(["generate", str(EXAMPLE), "--board", "no-such-board", "-o", str(tmp_path / "n")])
    err = capsys.readouterr().err
    assert rc == 2 and "unknown board 'no-such-board'" in err and not (tmp_path / "n").exists()


def test_build_cli_reports_missing_compiler(tmp_path, capsys, graphs, monkeypatch):
    write_project(graphs["kws_micro"], "qemu-stm32f4", tmp_path / "p")
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    rc = main(["build", str(tmp_path / "p")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "not found; install it with: sudo apt-get install" in err


def test_build_cli_reports_missing_platformio(tmp_path, capsys, graphs, monkeypatch):
    import importlib.util

    import tinygen.boards.deploy as deploy

    write_project(graphs["kws_micro"], "nano33ble", tmp_path / "p")
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "platformio" else real(n, *a))
    rc = main(["build", str(tmp_path / "p")])
    err = capsys.readouterr().err
    assert rc == 2 and "PlatformIO not found; install it with: pip install platformio" in err
    assert deploy.PIP_PIO in err


@needs_arm
def test_build_cli_json(tmp_path, capsys, graphs):
    write_project(graphs["kws_micro"], "nucleo-f446re", tmp_path / "p")
    assert main(["build", str(tmp_path / "p"), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["board"] == "nucleo-f446re" and 8_000 < res["flash_used"] < 64_000
    assert res["flash_available"] == 512 * 1024 and res["ram_available"] == 128 * 1024
    assert res["stack_bytes"] == 0x2000 and os.path.isfile(res["firmware"])
    assert main(["build", str(tmp_path / "p")]) == 0
    out = capsys.readouterr().out
    assert "flash" in out and "of 512 KB" in out and "of 128 KB" in out



@pytest.mark.skipif(shutil.which("riscv64-unknown-elf-gcc") is None, reason="needs riscv64-unknown-elf-gcc + picolibc")
def test_esp32_c3_project_c_sources_compile_for_rv32imc(tmp_path):
    """The ESP32-C3 project (PlatformIO, arduino-esp32): every C source in src/ (model, kernels,
    protocol, app) compiles with the RISC-V cross compiler for the C3's RV32IMC, warnings as errors
    (main.cpp needs the Arduino core: PlatformIO builds it). Xtensa (ESP32-S3) cannot be compiled here."""
    g = load_int8_model(EXAMPLE)
    proj = write_project(g, "esp32-c3-devkitm-1", tmp_path / "c3")
    assert 'board = esp32-c3-devkitm-1' in (proj.path / "platformio.ini").read_text()
    srcs = sorted((proj.path / "src").glob("*.c"))
    assert any(p.name.endswith("_model.c") for p in srcs) and any(p.name == "tg_conv.c" for p in srcs)
    objs = tmp_path / "obj"
    objs.mkdir()
    run(["riscv64-unknown-elf-gcc", "-march=rv32imc", "-mabi=ilp32", "--specs=picolibc.specs", "-O2", "-std=c99",
         "-Wall", "-Wextra", "-Werror", *APP_DEFINES, f"-I{proj.path / 'src'}", "-c", *srcs], cwd=objs)
    assert len(list(objs.glob("*.o"))) == len(srcs)


@pytest.mark.parametrize("board", ["qemu-stm32f4", "nucleo-f446re", "nano33ble", "nucleo-h743zi2", "esp32-devkitc"])
def test_board_project_generates_for_the_board_core(board, graphs, tmp_path):
    """A board project's model code is the one generated for the board's CPU (its `core`), not for its id: a
    Cortex-M4 / M7 board gets the DSP kernels' layouts (packed conv channel pairs, the depthwise pair kernels'
    parameter blocks) that its compiled kernels read. (Generated for the board id, `qemu-stm32f4` & co. got the
    C99 layouts: slower, and once wrong, when the stride-2 depthwise kernel read a 2-pixel-pass layout.)"""
    from tinygen.codegen.generator import generate

    g = graphs["mobilenet_v1_025_vww"]
    b = load_board(board)
    proj = write_project(g, board, tmp_path / "p")
    (ours,) = [p for p in proj.path.rglob(f"{g.name}_model.c")]
    ref = generate(g, tmp_path / "ref", g.name, target=b.core)
    assert ours.read_text() == ref.c_file.read_text()
    if b.core.startswith("cortex-m"):
        text = ours.read_text()
        assert ".pairs = 1" in text and "tg_dwconv_p3s2_s8(" in text and ".w_row = -4" in text
