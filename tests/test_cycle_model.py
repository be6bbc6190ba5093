"""The cycle-estimating QEMU plugin (qemu-plugins/tg_cycles.c, tinygen/boards/cycle_model.py):
the timing table is what the plugin applies, instruction by instruction, to what QEMU runs."""
from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess

import pytest

from tinygen.boards.catalog import data_dir
from tinygen.boards.cycle_model import CycleEstimator, elf_symbols, plugin_path, timing_table

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


def test_timing_table_has_exactly_the_plugin_classes():
    source = (data_dir() / "qemu-plugins" / "tg_cycles.c").read_text()
    names = re.search(r"k_names\[K_COUNT\] = \{(.*?)\};", source, re.S).group(1)
    plugin = set(re.findall(r'"(\w+)"', names))
    table = timing_table("cortex-m4")
    assert table is not None and set(table.cycles) == plugin
    assert table.cycles["load"] == 2 and table.cycles["vdiv"] == 14      # DDI 0439B table 3-1 / 7-1


@pytest.mark.skipif(not HAVE_TOOLS, reason="needs arm-none-eabi-gcc, qemu-system-arm and a host C compiler")
@pytest.mark.parametrize("change", [{}, {"load": 5, "refill": 3, "div": 12, "multi_reg": 2}])
def test_plugin_applies_the_table(tmp_path, change):
    src = tmp_path / "t.S"
    src.write_text(PROGRAM)
    elf = tmp_path / "t.elf"
    subprocess.run(["arm-none-eabi-gcc", "-mcpu=cortex-m4", "-mthumb", "-nostdlib", "-nostartfiles",
                    "-Wl,-Ttext=0x0", "-Wl,-e,reset", "-o", str(elf), str(src)], check=True)
    syms = elf_symbols(elf, ("mark", "reset"))
    nm = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True, check=True).stdout
    assert syms["mark"] == int(re.search(r"^([0-9a-f]+) T mark$", nm, re.M).group(1), 16)
    base = timing_table("cortex-m4")
    table = dataclasses.replace(base, cycles={**base.cycles, **change})
    est = CycleEstimator(table, plugin_path(), syms["mark"], syms["reset"], tmp_path / "records")
    r = subprocess.run(["qemu-system-arm", "-M", "mps2-an386", "-nographic", "-monitor", "none", "-serial", "null",
                        "-kernel", str(elf), "-semihosting-config", "enable=on,target=native", "-icount", "shift=0",
                        *est.qemu_args()], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    got = est.last_inference(0)
    assert got["instructions"] == INSTRUCTIONS
    assert got["cycles"] == _expected(table.cycles)


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
