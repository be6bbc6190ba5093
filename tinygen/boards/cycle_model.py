"""Estimated core cycles on emulated boards: a QEMU TCG plugin plus a timing table.

    est = CycleEstimator.for_board(board, elf, workdir)    # None when it cannot be used
    qemu_args = est.qemu_args()                             # "-plugin", "....so,out=...,..."
    ... run an inference ...
    est.last_inference(num_layers)     # {"instructions", "cycles", "layers": [{...}, ...]}

QEMU with `-icount shift=0` counts executed instructions exactly (the firmware's cycle
counter reads that count). The plugin `qemu-plugins/tg_cycles.c` classifies every
instruction and applies the core's timing table (`qemu-plugins/timing/<core>.toml`: data,
with its sources and blind spots) to what QEMU executes, giving an *estimate* of the core
cycles a real Cortex-M4 would spend. It records its running totals each time the firmware
calls `tg_cycles()` (the firmware's own measurement points) and each time it enters
`tg_app_invoke()`, so one inference is the group of `2 * layers + 2` `tg_cycles()` calls
after an entry: the whole inference, and each layer between its two hooks.

The plugin is built from C with the host compiler at first use and cached in
`$TINYGEN_CACHE/qemu-plugins/` (keyed by the source's hash).
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tinygen.boards.catalog import Board, data_dir, load_board
from tinygen.errors import ToolError

try:
    import tomllib
except ModuleNotFoundError:   # Python 3.10
    import tomli as tomllib

PLUGIN_SOURCE = "qemu-plugins/tg_cycles.c"
# Timing-table values may have two decimals (a dual-issuing core spends 0.5 cycles on an
# instruction that pairs): the plugin counts centi-cycles, the records are divided back.
SCALE = 100
# The instruction classes of each instruction set (the plugin's k_names); a table gives all of its ISA's.
ISA_CLASSES = {
    "arm": ("alu", "mul", "mla", "div", "load", "load_pipelined", "store_imm", "store_reg", "ldrd", "multi_base",
            "multi_reg", "branch", "tbb", "refill", "valu", "vmac", "vdiv", "vldst", "sys"),
    "riscv": ("alu", "mul", "mulh", "div", "load", "load_use", "store_imm", "branch", "refill", "jump", "sys"),
}
TIMING_DIR = "qemu-plugins/timing"
MARK_SYMBOL = "tg_cycles"
BEGIN_SYMBOL = "tg_app_invoke"


def _cache_root() -> Path:
    base = os.environ.get("TINYGEN_CACHE")
    return Path(base).expanduser() if base else Path.home() / ".cache" / "tinygen"


# ----------------------------------------------------------------------------- timing tables
@dataclass(frozen=True)
class TimingTable:
    core: str
    name: str
    cycles: dict
    path: Path
    isa: str = "arm"
    label: str = ""

    def describe(self) -> dict:
        return {"core": self.core, "name": self.name, "table": str(self.path.relative_to(data_dir()))
                if self.path.is_relative_to(data_dir()) else str(self.path), "cycles": dict(self.cycles),
                "isa": self.isa}


def _number(v, where: str):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 or round(v * SCALE) != v * SCALE:
        raise ToolError(f"{where}: cycle values must be non-negative numbers with at most two decimals, got {v!r}")
    return int(v) if float(v).is_integer() else float(v)


def _load_table(path: Path) -> TimingTable:
    with open(path, "rb") as f:
        d = tomllib.load(f)
    isa = str(d.get("isa", "arm"))
    if isa not in ISA_CLASSES:
        raise ToolError(f"{path.name}: isa must be one of {sorted(ISA_CLASSES)}, got {isa!r}")
    cycles = {str(k): _number(v, f"{path.name} [cycles] {k}") for k, v in d.get("cycles", {}).items()}
    if set(cycles) != set(ISA_CLASSES[isa]):
        missing, extra = sorted(set(ISA_CLASSES[isa]) - set(cycles)), sorted(set(cycles) - set(ISA_CLASSES[isa]))
        raise ToolError(f"{path.name}: [cycles] must give exactly the {isa} classes (missing {missing}, unknown {extra})")
    core = str(d.get("core", path.stem))
    return TimingTable(core=core, name=str(d.get("name", core)), cycles=cycles, path=path, isa=isa,
                       label=str(d.get("label", core.replace("cortex-m", "Cortex-M"))))


def timing_table(core: str) -> TimingTable | None:
    """The timing table of `core` (e.g. "cortex-m4"; "rv32imac": the table whose `cores` lists it),
    None when there is none."""
    root = data_dir() / TIMING_DIR
    path = root / f"{core}.toml"
    if path.is_file():
        return _load_table(path)
    for other in sorted(root.glob("*.toml")):
        with open(other, "rb") as f:
            if core in (tomllib.load(f).get("cores") or []):
                return _load_table(other)
    return None


# ----------------------------------------------------------------------------- the plugin
def _compiler() -> str | None:
    for cc in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if cc and shutil.which(cc):
            return cc
    return None


def plugin_path() -> Path:
    """The built plugin (.so), compiling it when missing. ToolError when no host C compiler
    is there or the build fails."""
    src = data_dir() / PLUGIN_SOURCE
    text = src.read_bytes()
    key = hashlib.sha256(text).hexdigest()[:12]
    out_dir = _cache_root() / "qemu-plugins"
    out = out_dir / f"tg_cycles-{key}.so"
    if out.is_file():
        return out
    cc = _compiler()
    if cc is None:
        raise ToolError("no host C compiler (cc/gcc/clang) to build the cycle-estimating QEMU plugin; "
                        "install one with: sudo apt-get install gcc")
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / ".build.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if out.is_file():
            return out
        fd, tmp = tempfile.mkstemp(prefix=".tg_cycles-", suffix=".so", dir=out_dir)
        os.close(fd)
        try:
            r = subprocess.run([cc, "-shared", "-fPIC", "-O2", "-o", tmp, str(src)], capture_output=True, text=True)
            if r.returncode != 0:
                last = (r.stderr.strip().splitlines() or ["?"])[-1]
                raise ToolError(f"building the QEMU plugin {src.name} failed: {last}")
            os.replace(tmp, out)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return out


def elf_symbols(elf: Path, names) -> dict:
    """Addresses of the given function symbols in `elf` (Thumb bit cleared); missing ones are
    left out. Reads the ELF symbol table directly (32- and 64-bit, either byte order)."""
    import struct

    want = set(names)
    data = Path(elf).read_bytes()
    if data[:4] != b"\x7fELF":
        return {}
    is64 = data[4] == 2
    end = "<" if data[5] == 1 else ">"
    if is64:
        shoff, = struct.unpack_from(end + "Q", data, 0x28)
        shentsize, shnum = struct.unpack_from(end + "HH", data, 0x3A)
    else:
        shoff, = struct.unpack_from(end + "I", data, 0x20)
        shentsize, shnum = struct.unpack_from(end + "HH", data, 0x2E)
    sections = []
    for i in range(shnum):
        off = shoff + i * shentsize
        if is64:
            _name, sh_type, _flags, _addr, sh_offset, sh_size, sh_link, _info, _align, sh_entsize = \
                struct.unpack_from(end + "IIQQQQIIQQ", data, off)
        else:
            _name, sh_type, _flags, _addr, sh_offset, sh_size, sh_link, _info, _align, sh_entsize = \
                struct.unpack_from(end + "IIIIIIIIII", data, off)
        sections.append((sh_type, sh_offset, sh_size, sh_link, sh_entsize))
    found = {}
    for sh_type, off, size, link, entsize in sections:
        if sh_type != 2 or not entsize:           # SHT_SYMTAB
            continue
        str_off = sections[link][1]
        for k in range(size // entsize):
            e = off + k * entsize
            if is64:
                st_name, st_info, _other, _shndx, st_value, _size = struct.unpack_from(end + "IBBHQQ", data, e)
            else:
                st_name, st_value, _size, st_info, _other, _shndx = struct.unpack_from(end + "IIIBBH", data, e)
            if st_info & 0xF != 2:                 # STT_FUNC
                continue
            nul = data.index(b"\0", str_off + st_name)
            name = data[str_off + st_name:nul].decode("ascii", "replace")
            if name in want:
                found[name] = st_value & ~1
    return found


# ----------------------------------------------------------------------------- estimator
class CycleEstimator:
    """The plugin's arguments for one QEMU run and the reading of its records."""

    def __init__(self, table: TimingTable, plugin: Path, mark: int, begin: int, records: Path):
        self.table = table
        self.plugin = plugin
        self.mark = mark
        self.begin = begin
        self.records = records
        self._pos = 0
        self._group: list | None = None        # C records after the last B record
        self._groups_done: list = []

    @classmethod
    def for_board(cls, board: Board | str, elf, workdir) -> "CycleEstimator | None":
        """An estimator for `elf` on the emulated `board`, None when the core has no timing
        table or the firmware lacks the marked functions. Builds the plugin (ToolError when
        that fails)."""
        board = load_board(board)
        table = timing_table(board.core)
        if table is None:
            return None
        syms = elf_symbols(Path(elf), (MARK_SYMBOL, BEGIN_SYMBOL))
        if MARK_SYMBOL not in syms or BEGIN_SYMBOL not in syms:
            return None
        plugin = plugin_path()
        records = Path(workdir) / "tg_cycles.records"
        return cls(table, plugin, syms[MARK_SYMBOL], syms[BEGIN_SYMBOL], records)

    def qemu_args(self) -> list:
        args = [str(self.plugin), f"out={self.records}", f"mark=0x{self.mark:x}", f"begin=0x{self.begin:x}",
                f"isa={self.table.isa}"]
        args += [f"t_{k}={round(v * SCALE)}" for k, v in sorted(self.table.cycles.items())]
        return ["-plugin", ",".join(args)]

    def wait_loaded(self, exited, timeout: float = 10.0) -> bool:
        """True once the plugin has written its "loaded" line; False when `exited()` says QEMU
        is gone first (it refused the plugin) or after `timeout` seconds."""
        import time

        deadline = time.monotonic() + timeout
        while True:
            try:
                with open(self.records, "rb") as f:
                    if f.readline().startswith(b"I "):
                        return True
            except OSError:
                pass
            if exited() or time.monotonic() > deadline:
                return False
            time.sleep(0.005)

    def describe(self) -> dict:
        d = self.table.describe()
        d["unit"] = "estimated core cycles"
        d["label"] = self.table.label or self.table.core
        return d

    def _read(self) -> None:
        try:
            with open(self.records, "rb") as f:
                f.seek(self._pos)
                data = f.read()
        except OSError:
            return
        cut = data.rfind(b"\n") + 1
        self._pos += cut
        for line in data[:cut].decode("ascii", "replace").splitlines():
            parts = line.split()
            if len(parts) != 3 or parts[0] not in ("B", "C"):
                continue
            rec = (int(parts[1]), int(parts[2]))
            if parts[0] == "B":
                if self._group is not None:
                    self._groups_done = [self._group]
                self._group = []
            elif self._group is not None:
                self._group.append(rec)

    def last_inference(self, num_layers: int) -> dict | None:
        """Figures of the last completed inference: {"instructions", "cycles", "layers":
        [{"instructions", "cycles"}, ...]} (plugin counts between the firmware's own
        measurement points), None when the records hold no complete one."""
        self._read()
        need = 2 * num_layers + 2
        group = None
        for g in ([self._group] if self._group is not None else []) + self._groups_done[::-1]:
            if len(g) >= need:
                group = g
                break
        if group is None:
            return None
        g = group[:need]
        layers = [{"instructions": g[2 * k + 2][0] - g[2 * k + 1][0],
                   "cycles": round((g[2 * k + 2][1] - g[2 * k + 1][1]) / SCALE)} for k in range(num_layers)]
        return {"instructions": g[-1][0] - g[0][0], "cycles": round((g[-1][1] - g[0][1]) / SCALE), "layers": layers}


__all__ = ["CycleEstimator", "TimingTable", "elf_symbols", "plugin_path", "timing_table"]
