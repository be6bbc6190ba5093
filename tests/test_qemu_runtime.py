"""Bare-metal runtime on emulated boards: build with arm-none-eabi-gcc, run in QEMU, talk over serial."""

import json
import random
import shutil
from pathlib import Path

import pytest
import serial

from tinygen.boards.catalog import data_dir, load_board
from tinygen.errors import DeviceError, TinygenError, ToolError
from tinygen.boards.firmware_build import build_firmware, memory_usage
from tinygen.boards.qemu import QemuSession, qemu_command, read_exact, read_line, read_until

HAVE_GCC = shutil.which("arm-none-eabi-gcc") is not None
HAVE_QEMU = shutil.which("qemu-system-arm") is not None
needs_gcc = pytest.mark.skipif(not HAVE_GCC, reason="arm-none-eabi-gcc not installed")
needs_qemu = pytest.mark.skipif(not (HAVE_GCC and HAVE_QEMU), reason="needs arm-none-eabi-gcc and qemu-system-arm")
HAVE_RISCV = shutil.which("riscv64-unknown-elf-gcc") is not None and shutil.which("qemu-system-riscv32") is not None

QEMU_BOARDS = ["qemu-stm32f4", "qemu-cortex-m4", "qemu-cortex-m7", "qemu-cortex-m33", "qemu-cortex-m55", "qemu-riscv32"]

FIRMWARE_TESTS = data_dir() / "firmware" / "tests"
HELLO = FIRMWARE_TESTS / "hello_main.c"
RUNTIME_CHECK = FIRMWARE_TESTS / "runtime_check_main.c"
BENCH_ITERS = 10000          # hello_main.c
TIMEOUT = 10.0


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("fw")


_elf_cache = {}


def hello_elf(board_id, build_dir):
    key = ("hello", board_id)
    if key not in _elf_cache:
        _elf_cache[key] = build_firmware(board_id, [HELLO], build_dir / board_id, name="hello")
    return _elf_cache[key]


def run_hello(board_id, elf, payload=b"", final=b"q"):
    """Boot hello, read its four status lines, echo `payload`, send `final`; returns a dict."""
    with QemuSession(board_id, elf) as qemu:
        lines = [json.loads(read_line(qemu.serial, TIMEOUT)) for _ in range(4)]
        echoed = b""
        if payload:
            qemu.serial.write(payload)
            echoed = read_exact(qemu.serial, len(payload), TIMEOUT)
        qemu.serial.write(final)
        rest, status = qemu.read_to_exit(TIMEOUT)
    banner, bench, stack, ready = lines
    return {"banner": banner, "bench": bench, "stack": stack, "ready": ready,
            "echoed": echoed, "rest": rest, "status": status}


@pytest.mark.qemu
@needs_qemu
@pytest.mark.parametrize("board_id", QEMU_BOARDS)
def test_hello_banner_echo_and_clean_exit(board_id, build_dir):
    board = load_board(board_id)
    rng = random.Random(1234)
    payload = bytes(rng.choice([b for b in range(256) if b not in b"qQ"]) for _ in range(200))
    r = run_hello(board_id, hello_elf(board_id, build_dir), payload)

    assert r["banner"] == {"board": board_id, "clock_hz": board.clock_hz}
    assert r["echoed"] == payload, "interrupt-driven RX must echo every byte exactly"
    assert r["status"] == 0 and r["rest"] == b""
    assert r["bench"]["bench_iters"] == BENCH_ITERS
    assert r["bench"]["fpu"] == 250          # (1.5 * 1.5 + 0.25) * 100 with the FPU enabled
    assert 0 < r["stack"]["stack_used"] < r["stack"]["stack_size"] == board.stack_size
    assert r["ready"] == {"ready": 1}


@pytest.mark.qemu
@needs_qemu
@pytest.mark.parametrize("board_id", QEMU_BOARDS)
def test_bench_cycles_are_deterministic_instruction_counts(board_id, build_dir):
    elf = hello_elf(board_id, build_dir)
    first = run_hello(board_id, elf)["bench"]
    second = run_hello(board_id, elf)["bench"]
    assert first == second, "with -icount shift=0 the cycle count must repeat exactly"
    # Counted in instruction-equivalents: the 10000-iteration loop is a handful of
    # instructions per iteration (raw SysTick ticks would be 40x / ~6x smaller).
    assert 3 * BENCH_ITERS <= first["bench_cycles"] <= 6 * BENCH_ITERS + 100


@pytest.mark.qemu
@needs_qemu
def test_cycle_units_agree_across_qemu_boards(build_dir):
    cycles = {b: run_hello(b, hello_elf(b, build_dir))["bench"]["bench_cycles"] for b in QEMU_BOARDS}
    # Same code, same unit (virtual ns = instructions): only the tick resolution
    # (6 to 50 instructions) and the per-board tg_cycles() cost differ...
    same_loop = [c for b, c in cycles.items() if b not in ("qemu-cortex-m55", "qemu-riscv32")]
    assert max(same_loop) - min(same_loop) <= 200, cycles
    # ...except on the Cortex-M55 (Armv8.1-M), where GCC turns the 4-instruction loop into a
    # 3-instruction DLS/LE low-overhead loop: 3/4 of the others' count, not 40/31.25 of it.
    assert abs(cycles["qemu-cortex-m55"] - 3 * BENCH_ITERS) <= 300, cycles
    # RV32IMAC has no shifted operand: mul, add, srli, xor, addi, bne = 6 per iteration, counted exactly
    # (mcycle under -icount, resolution one instruction).
    assert abs(cycles["qemu-riscv32"] - 6 * BENCH_ITERS) <= 100, cycles


@pytest.mark.qemu
@needs_qemu
@pytest.mark.parametrize("board_id", QEMU_BOARDS)
def test_exit_status_reaches_host(board_id, build_dir):
    assert run_hello(board_id, hello_elf(board_id, build_dir), final=b"Q")["status"] == 7


@pytest.mark.qemu
@needs_qemu
@pytest.mark.parametrize("board_id,bss_bytes", [("qemu-stm32f4", 96 << 10)] + [(b, 3 << 20) for b in QEMU_BOARDS[1:]
                                                                                 if b != "qemu-riscv32"])
def test_runtime_checks_data_bss_systick_wrap_and_fault(board_id, bss_bytes, build_dir):
    """Large .bss next to a flash image (QEMU ELF-loader pitfall), .data copy, SysTick
    64-bit extension over many wraps (2^12-tick period), and the fault report."""
    elf = build_firmware(board_id, [RUNTIME_CHECK], build_dir / f"rc-{board_id}", name="rc",
                         extra_cflags=["-DTG_SYSTICK_SHIFT=12", f"-DBIG_BSS_BYTES={bss_bytes}u"])
    with QemuSession(board_id, elf) as qemu:
        mem, lin, mono, ready = (json.loads(read_line(qemu.serial, TIMEOUT)) for _ in range(4))
        qemu.serial.write(b"f")
        rest, status = qemu.read_to_exit(TIMEOUT)

    assert mem == {"data_ok": 1, "bss_ok": 1, "bss_bytes": bss_bytes,
                   "u32max": 2**32 - 1, "u32max1": 2**32, "u64max": 2**64 - 1}
    n = lin["iters"]
    assert abs(lin["c2"] - 2 * lin["c1"] + lin["c0"]) <= 100, lin   # linear: no lost/extra wraps
    assert 3 * n <= lin["c1"] - lin["c0"] <= 6 * n, lin
    period = 4096 * (10**9 // load_board(board_id).clock_hz)   # instructions per 2^12-tick period
    assert lin["c1"] > 10 * period, "the measurement must span many SysTick wraps"
    assert mono["backwards"] == 0 and 0 < mono["max_step"] < 1000 and mono["span"] > 10 * period, mono
    assert ready == {"ready": 1}

    fault = json.loads(rest.strip())
    assert fault["fault"] == 3                      # UsageFault escalated to HardFault
    assert int(fault["cfsr"], 16) & (1 << 16)       # CFSR.UNDEFINSTR
    assert status == 128 + 3


@needs_gcc
def test_hello_builds_for_nucleo_f446re(build_dir):
    elf = build_firmware("nucleo-f446re", [HELLO], build_dir / "nucleo-f446re", name="hello")
    assert elf.is_file()
    use = memory_usage(elf)
    assert 0 < use.flash < 64 << 10 and use.ram < 8 << 10
    script = (build_dir / "nucleo-f446re" / "hello.ld").read_text()
    assert "ORIGIN = 0x08000000, LENGTH = 0x80000" in script


@needs_gcc
def test_compile_error_reports_first_error_line(tmp_path):
    bad = tmp_path / "bad.c"
    bad.write_text("int main(void) { return undefined_thing; }\n")
    with pytest.raises(ToolError, match=r"bad\.c:1:.*error: .undefined_thing. undeclared"):
        build_firmware("qemu-cortex-m4", [bad], tmp_path / "out")


def test_missing_compiler_names_apt_package(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolError, match="apt-get install gcc-arm-none-eabi"):
        build_firmware("qemu-cortex-m4", [HELLO], tmp_path / "out")


def test_platformio_board_is_not_a_make_build(tmp_path):
    with pytest.raises(TinygenError, match="platformio"):
        build_firmware("nano33ble", [HELLO], tmp_path / "out")


def test_missing_qemu_names_apt_package(tmp_path):
    elf = tmp_path / "x.elf"
    elf.write_bytes(b"\x7fELF")
    with pytest.raises(ToolError, match="apt-get install qemu-system-arm"):
        with QemuSession("qemu-cortex-m4", elf, qemu_binary="qemu-system-arm-missing"):
            pass


def test_real_board_cannot_be_emulated(tmp_path):
    with pytest.raises(TinygenError, match="cannot be emulated.*qemu-cortex-m4"):
        qemu_command("nucleo-f446re", tmp_path / "x.elf", 1234)


def test_qemu_command_line():
    cmd = qemu_command("qemu-stm32f4", "fw.elf", 4321)
    assert cmd == ["qemu-system-arm", "-M", "netduinoplus2", "-nographic", "-monitor", "none",
                   "-kernel", "fw.elf", "-serial", "tcp:127.0.0.1:4321,server=on,wait=on,nodelay=on",
                   "-semihosting-config", "enable=on,target=native", "-icount", "shift=0"]
    assert "-icount" not in qemu_command("qemu-cortex-m4", "fw.elf", 4321, icount=False)


@pytest.mark.skipif(not HAVE_QEMU, reason="qemu-system-arm not installed")
def test_qemu_start_failure_is_a_tool_error(tmp_path):
    elf = tmp_path / "x.elf"
    elf.write_bytes(b"\x7fELF")
    with pytest.raises(ToolError, match="QEMU failed to start.*no-such-option"):
        with QemuSession("qemu-cortex-m4", elf, extra_args=["-no-such-option"]):
            pass
    with pytest.raises(TinygenError, match="firmware not found"):
        with QemuSession("qemu-cortex-m4", tmp_path / "missing.elf"):
            pass


def test_read_until_never_reads_past_the_marker():
    ser = serial.serial_for_url("loop://", timeout=0.01)
    ser.write(b"aaab|tail")
    assert read_until(ser, b"aab", 1.0) == b"aaab"
    assert read_exact(ser, 5, 1.0) == b"|tail"
    ser.write(b"line one\nline two\n")
    assert read_line(ser, 1.0) == b"line one"
    assert read_line(ser, 1.0) == b"line two"
    with pytest.raises(DeviceError, match="timed out"):
        read_until(ser, b"\n", 0.05)


@pytest.mark.qemu
@pytest.mark.skipif(not (shutil.which("riscv64-unknown-elf-gcc") and shutil.which("qemu-system-riscv32")),
                    reason="needs riscv64-unknown-elf-gcc (+ picolibc) and qemu-system-riscv32")
def test_riscv_runtime_data_bss_counter_and_trap(build_dir):
    """RV32: .data copy, a 3 MB .bss next to the image, the 64-bit mcycle counter (monotonic, linear),
    and the trap report of an illegal instruction (mcause 2) ending QEMU with 128 + 2."""
    board_id = "qemu-riscv32"
    elf = build_firmware(board_id, [RUNTIME_CHECK], build_dir / f"rc-{board_id}", name="rc",
                         extra_cflags=[f"-DBIG_BSS_BYTES={3 << 20}u"])
    with QemuSession(board_id, elf) as qemu:
        mem, lin, mono, ready = (json.loads(read_line(qemu.serial, TIMEOUT)) for _ in range(4))
        qemu.serial.write(b"f")
        rest, status = qemu.read_to_exit(TIMEOUT)
    assert mem == {"data_ok": 1, "bss_ok": 1, "bss_bytes": 3 << 20,
                   "u32max": 2**32 - 1, "u32max1": 2**32, "u64max": 2**64 - 1}
    n = lin["iters"]
    assert abs(lin["c2"] - 2 * lin["c1"] + lin["c0"]) <= 10, lin
    assert 3 * n <= lin["c1"] - lin["c0"] <= 8 * n, lin
    assert mono["backwards"] == 0 and 0 < mono["max_step"] < 1000, mono
    assert ready == {"ready": 1}
    fault = json.loads(rest.strip())
    assert fault["fault"] == 2 and status == 128 + 2        # illegal instruction
