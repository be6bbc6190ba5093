"""The cycle-estimating QEMU plugin (qemu-plugins/tg_cycles.c, tinygen/boards/cycle_model.py):
the timing table is what the plugin applies, instruction by instruction, to what QEMU runs."""
from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess

import pytest

from tinygen.boards.catalog import data_dir
from tinygen.boards.cycle_model import ISA_CLASSES, SCALE, CycleEstimator, elf_symbols, plugin_path, timing_table

HAVE_TOOLS = bool(shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm")
                  and (shutil.which("cc") or shutil.which("gcc")))

# A known instruction mix between two calls of `mark` (the plugin's measurement points).
PROGRAM = r"""
    .syntax unified
    .cpu cortex-m4
    .thumb
    .text
    .word 0x20001000
    .word reset + 1
    .thumb_func
    .global reset
reset:
    ldr r0, =0x20000100
    bl mark
    ldr r1, [r0]                /* load, then three pipelined loads */
    ldr r2, [r0, #4]
    ldr r3, [r0, #8]
    ldr r4, [r0, #12]
    smlad r5, r1, r2, r5        /* mul */
    mla r6, r1, r2, r6          /* mla */
    str r1, [r0, #16]           /* store_imm */
    push {r4, r5, r6, r7}       /* multi_base + 4 multi_reg */
    pop {r4, r5, r6, r7}
    movs r7, #3                 /* alu */
1:  subs r7, #1                 /* 3 x (alu + branch), taken twice: 2 refills */
    bne 1b
    movs r2, #7
    sdiv r3, r1, r2             /* div */
    ldrd r2, r3, [r0]           /* ldrd */
    bl mark                     /* branch + refill */
    movs r0, #0x18              /* semihosting SYS_EXIT */
    ldr r1, =0x20026
    bkpt 0xab
    .thumb_func
    .global mark
mark:
    bx lr                       /* branch + refill */
    .ltorg
"""
INSTRUCTIONS = 21       # from mark's `bx lr` to the second `bl mark`, both included


def _expected(c: dict) -> int:
    return ((c["branch"] + c["refill"])                           # bx lr
            + c["load"] + 3 * c["load_pipelined"] + c["mul"] + c["mla"] + c["store_imm"]
            + 2 * (c["multi_base"] + 4 * c["multi_reg"])
            + c["alu"] + 3 * (c["alu"] + c["branch"]) + 2 * c["refill"]
            + c["alu"] + c["div"] + c["ldrd"]
            + c["branch"] + c["refill"])                          # bl mark


def _plugin_classes() -> set:
    source = (data_dir() / "qemu-plugins" / "tg_cycles.c").read_text()
    names = re.search(r"k_names\[K_COUNT\] = \{(.*?)\};", source, re.S).group(1)
    return set(re.findall(r'"(\w+)"', names))


def test_timing_table_has_exactly_the_plugin_classes():
    table = timing_table("cortex-m4")
    assert table is not None and set(table.cycles) == set(ISA_CLASSES["arm"])
    assert set(ISA_CLASSES["arm"]) | set(ISA_CLASSES["riscv"]) == _plugin_classes()
    assert table.cycles["load"] == 2 and table.cycles["vdiv"] == 14      # DDI 0439B table 3-1 / 7-1


def test_every_emulated_core_has_a_table_with_its_sources():
    """Each emulated board's core finds its table (RV32 cores through `cores`); every table names
    its sources and gives exactly its instruction set's classes, in centi-cycle steps."""
    from tinygen.boards.catalog import list_boards, load_board

    seen = {}
    for board_id in list_boards():
        b = load_board(board_id)
        if b.emulator is None:
            continue
        t = timing_table(b.core)
        assert t is not None, f"{board_id}: no timing table for core {b.core}"
        seen[t.path.name] = t
        assert set(t.cycles) == set(ISA_CLASSES[t.isa])
        assert all(round(v * 100) == v * 100 and v >= 0 for v in t.cycles.values())
        assert "# Sources" in t.path.read_text()
    assert set(seen) >= {"cortex-m4.toml", "cortex-m7.toml", "cortex-m33.toml", "cortex-m55.toml", "riscv32.toml"}
    assert seen["riscv32.toml"].isa == "riscv" and timing_table("rv32imc") == seen["riscv32.toml"]
    # the cores differ where their pipelines do: one-cycle loads after the M4, dual issue on the M7
    assert timing_table("cortex-m33").cycles["load"] == 1 < timing_table("cortex-m4").cycles["load"]
    assert timing_table("cortex-m7").cycles["alu"] < 1
    assert timing_table("no-such-core") is None


def test_bad_table_is_one_clear_error(tmp_path, monkeypatch):
    from tinygen.boards import cycle_model
    from tinygen.errors import ToolError

    (tmp_path / "qemu-plugins" / "timing").mkdir(parents=True)
    bad = tmp_path / "qemu-plugins" / "timing" / "x.toml"
    monkeypatch.setattr(cycle_model, "data_dir", lambda: tmp_path)
    bad.write_text('core = "x"\n[cycles]\nalu = 1\n')
    with pytest.raises(ToolError, match=r"x.toml: \[cycles\] must give exactly the arm classes \(missing \['branch'"):
        timing_table("x")
    bad.write_text('core = "x"\n[cycles]\n' + "".join(f"{k} = 1\n" for k in ISA_CLASSES["arm"]).replace(
        "alu = 1", "alu = 0.333"))
    with pytest.raises(ToolError, match="at most two decimals, got 0.333"):
        timing_table("x")


@pytest.mark.skipif(not HAVE_TOOLS, reason="needs arm-none-eabi-gcc, qemu-system-arm and a host C compiler")
@pytest.mark.parametrize("core, change", [("cortex-m4", {}),
                                          ("cortex-m4", {"load": 5, "refill": 3, "div": 12, "multi_reg": 2}),
                                          ("cortex-m7", {}),          # fractional: 0.75, 0.5 cycles
                                          ("cortex-m33", {})])
def test_plugin_applies_the_table(tmp_path, core, change):
    src = tmp_path / "t.S"
    src.write_text(PROGRAM)
    elf = tmp_path / "t.elf"
    subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-nostdlib", "-nostartfiles",
                    "-Wl,-Ttext=0x0", "-Wl,-e,reset", "-o", str(elf), str(src)], check=True)
    syms = elf_symbols(elf, ("mark", "reset"))
    nm = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True, check=True).stdout
    assert syms["mark"] == int(re.search(r"^([0-9a-f]+) T mark$", nm, re.M).group(1), 16)
    base = timing_table(core)
    table = dataclasses.replace(base, cycles={**base.cycles, **change})
    est = CycleEstimator(table, plugin_path(), syms["mark"], syms["reset"], tmp_path / "records")
    r = subprocess.run(["qemu-system-arm", "-M", "mps2-an386", "-nographic", "-monitor", "none", "-serial", "null",
                        "-kernel", str(elf), "-semihosting-config", "enable=on,target=native", "-icount", "shift=0",
                        *est.qemu_args()], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    got = est.last_inference(0)
    assert got["instructions"] == INSTRUCTIONS
    centi = {k: round(v * SCALE) for k, v in table.cycles.items()}
    assert got["cycles"] == round(_expected(centi) / SCALE)
    assert got["cycles"] == round(_expected(table.cycles))


RISCV_PROGRAM = r"""
    .option norvc
    .text
    .globl _start
_start:
    li sp, 0x80010000
    la s0, data
    jal mark
    lw a1, 0(s0)                /* load_use: the next instruction reads a1 */
    add a2, a1, a1              /* alu */
    lw a3, 4(s0)                /* load: the next one does not read a3 */
    addi a4, zero, 3            /* alu */
1:  addi a4, a4, -1             /* 3 x (alu + branch), taken twice: 2 refills */
    bnez a4, 1b
    mul a5, a1, a3              /* mul */
    mulh a6, a1, a3             /* mulh */
    div a7, a1, a3              /* div */
    sw a5, 8(s0)                /* store_imm */
    jal mark                    /* jump */
    li t0, 0x100000             /* SiFive test device: pass */
    li t1, 0x5555
    sw t1, 0(t0)
2:  j 2b
mark:
    ret                         /* jump */
    .data
data:
    .word 7, 3, 0
"""
RISCV_INSTRUCTIONS = 16     # from mark's `ret` to the second `jal mark`, both included
HAVE_RISCV = bool(shutil.which("riscv64-unknown-elf-gcc") and shutil.which("qemu-system-riscv32")
                  and (shutil.which("cc") or shutil.which("gcc")))


@pytest.mark.skipif(not HAVE_RISCV, reason="needs riscv64-unknown-elf-gcc, qemu-system-riscv32 and a host C compiler")
@pytest.mark.parametrize("change", [{}, {"load_use": 3, "refill": 4, "div": 35, "jump": 3}])
def test_plugin_applies_the_riscv_table(tmp_path, change):
    src = tmp_path / "t.S"
    src.write_text(RISCV_PROGRAM)
    elf = tmp_path / "t.elf"
    subprocess.run(["riscv64-unknown-elf-gcc", "-march=rv32im", "-mabi=ilp32", "-nostdlib", "-nostartfiles",
                    "-Wl,-Ttext=0x80000000", "-Wl,-Tdata=0x80008000", "-Wl,--no-relax", "-o", str(elf), str(src)],
                   check=True)
    nm = subprocess.run(["riscv64-unknown-elf-nm", str(elf)], capture_output=True, text=True, check=True).stdout
    syms = {name: int(addr, 16) for addr, name in re.findall(r"^([0-9a-f]+) \w (mark|_start)$", nm, re.M)}
    base = timing_table("rv32imac")
    table = dataclasses.replace(base, cycles={**base.cycles, **change})
    est = CycleEstimator(table, plugin_path(), syms["mark"], syms["_start"], tmp_path / "records")
    r = subprocess.run(["qemu-system-riscv32", "-M", "virt", "-bios", "none", "-nographic", "-monitor", "none",
                        "-serial", "null", "-kernel", str(elf), "-icount", "shift=0", *est.qemu_args()],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    got = est.last_inference(0)
    c = table.cycles
    assert got["instructions"] == RISCV_INSTRUCTIONS
    assert got["cycles"] == (c["jump"] + c["load_use"] + c["alu"] + c["load"] + c["alu"]
                             + 3 * (c["alu"] + c["branch"]) + 2 * c["refill"]
                             + c["mul"] + c["mulh"] + c["div"] + c["store_imm"] + c["jump"])
    stats = dict(ln.split()[1:] for ln in est.records.read_text().splitlines() if ln.startswith("S "))
    assert int(stats["load_use"]) >= 1 and int(stats["mulh"]) >= 1 and int(stats["ldrd"]) == 0


@pytest.mark.skipif(not HAVE_TOOLS, reason="needs arm-none-eabi-gcc, qemu-system-arm and a host C compiler")
@pytest.mark.qemu
def test_validate_runs_without_estimate_when_qemu_refuses_the_plugin(monkeypatch):
    """A QEMU that does not load the plugin (here: the plugin refuses an unknown class) still
    validates, without estimated cycles, and says why."""
    from tinygen.boards import cycle_model
    from tinygen.device.validate import validate

    base = timing_table("cortex-m4")
    bogus = dataclasses.replace(base, cycles={**base.cycles, "bogus": 3})
    monkeypatch.setattr(cycle_model, "timing_table", lambda core: bogus)
    said = []
    kws = data_dir() / "examples" / "kws_micro.tflite"
    d = validate(kws, "qemu-cortex-m4", samples=1, say=said.append).as_dict()
    assert d["passed"] and d["latency_cycles"]["median"] > 0
    assert d["latency_cycles_estimated"] is None and d["latency_ms_basis"] == "exact"
    assert any("no estimated cycles: QEMU did not start with the cycle-estimating plugin" in m for m in said), said
