"""Build bare-metal firmware for `make` boards with arm-none-eabi-gcc.

All compiler and linker flags come from the functions below (`arch_flags`,
`board_defines`, `common_cflags`, `compile_flags`, `link_flags`, `runtime_sources`), so a
generated project's Makefile can be rendered from the very same lists the tests build with.

    elf = build_firmware("qemu-cortex-m4", [Path("main.c")], Path("build"))
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import jinja2

from tinygen.boards.catalog import Board, data_dir, load_board
from tinygen.errors import TinygenError, ToolError

GCC = "arm-none-eabi-gcc"
SIZE = "arm-none-eabi-size"
APT_INSTALL = "sudo apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi"
GCC_RISCV = "riscv64-unknown-elf-gcc"
SIZE_RISCV = "riscv64-unknown-elf-size"
APT_INSTALL_RISCV = "sudo apt-get install gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf"

# Runtime sources shared by every Cortex-M port, plus board_<port>.c.
_COMMON_RUNTIME = ("startup_cortexm.c", "tg_systick.c", "tg_io.c", "tg_bench.c", "tg_stack.c")
# ... and by every RISC-V port (machine mode, no SysTick: the port reads mcycle).
_RISCV_RUNTIME = ("startup_riscv.c", "tg_io.c", "tg_bench.c", "tg_stack.c")


# Cortex-M cores the bare-metal runtime (startup_cortexm.c, SysTick, NVIC) supports.
ARM_CORES = ("cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55")
# RV32 cores (the board's `core` is the -march string), built with riscv64-unknown-elf-gcc + picolibc.
RISCV_CORES = ("rv32imac", "rv32imc", "rv32im")


def board_arch(board: Board) -> str:
    """"riscv" for RV32 boards, "arm" for Cortex-M ones."""
    return "riscv" if board.core in RISCV_CORES else "arm"


def runtime_dir() -> Path:
    return data_dir() / "firmware" / "runtime"


def templates_dir() -> Path:
    return data_dir() / "templates"


def _require_make_board(board: Board) -> None:
    if board.build_system != "make":
        raise TinygenError(
            f"board {board.id!r} builds with {board.build_system}, not with tinygen's bare-metal runtime")
    if board.core not in ARM_CORES + RISCV_CORES:
        raise TinygenError(f"board {board.id!r}: core {board.core!r} is not supported by the bare-metal build")
    if not board.port:
        raise TinygenError(f"board {board.id!r} has no runtime 'port'")


def arch_flags(board: Board) -> list[str]:
    """CPU/ABI flags, used for compiling and linking."""
    if board_arch(board) == "riscv":
        # -march without _zicsr: with it gcc misses the rv32imac/ilp32 multilib (libgcc, picolibc);
        # the runtime's CSR instructions enable Zicsr locally (.option arch, +zicsr).
        return [f"-march={board.core}", "-mabi=ilp32"]
    flags = [f"-mcpu={board.core}", "-mthumb"]
    if board.fpu == "none":
        flags.append("-mfloat-abi=soft")
    else:
        flags += ["-mfloat-abi=hard", f"-mfpu={board.fpu}"]
    return flags


def common_cflags() -> list[str]:
    return ["-O2", "-g", "-ffunction-sections", "-fdata-sections",
            "-Wall", "-Wextra", "-Werror", "-std=c99"]


def board_defines(board: Board) -> list[str]:
    """Board macros for the runtime (TG_BOARD_ID, TG_CLOCK_HZ, TG_UART_BAUD) + the board's cflags."""
    return [f'-DTG_BOARD_ID="{board.id}"',
            f"-DTG_CLOCK_HZ={board.clock_hz}u",
            f"-DTG_UART_BAUD={board.serial.baud}u",
            *board.cflags]


def compile_flags(board: Board, extra_cflags: Iterable[str] = (),
                  include_dirs: Iterable[Path | str] = (),
                  runtime_include: Path | str | None = None) -> list[str]:
    """Everything passed to gcc when compiling a C file for `board` (argv form, unquoted:
    use `shlex.join` for a Makefile). `runtime_include` replaces the path of the runtime
    headers (default: the installed firmware/runtime), e.g. "runtime" in a project that
    vendors the runtime sources."""
    incs = [runtime_include if runtime_include is not None else runtime_dir(), *include_dirs]
    libc = ["--specs=picolibc.specs"] if board_arch(board) == "riscv" else []
    return [*arch_flags(board), *libc, *common_cflags(), *board_defines(board),
            *(f"-I{p}" for p in incs), *extra_cflags]


def link_flags(board: Board, linker_script: Path | str, map_file: Path | str | None = None) -> list[str]:
    """Everything passed to gcc when linking (libc/libgcc from newlib-nano, or picolibc on RISC-V;
    no crt0; RISC-V links without relaxation, so gp stays unused)."""
    if board_arch(board) == "riscv":
        flags = [*arch_flags(board), "-nostartfiles", "--specs=picolibc.specs", "-Wl,--no-relax",
                 "-Wl,--gc-sections", f"-T{linker_script}"]
    else:
        flags = [*arch_flags(board), "-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs",
                 "-Wl,--gc-sections", f"-T{linker_script}"]
    if map_file is not None:
        flags.append(f"-Wl,-Map={map_file}")
    return flags


def runtime_sources(board: Board) -> list[Path]:
    """The runtime C files every firmware for `board` links (startup, port, helpers)."""
    board = load_board(board)
    _require_make_board(board)
    rdir = runtime_dir()
    port_src = rdir / f"board_{board.port}.c"
    if not port_src.is_file():
        raise TinygenError(f"board {board.id!r}: runtime port {port_src} not found")
    common = _RISCV_RUNTIME if board_arch(board) == "riscv" else _COMMON_RUNTIME
    return [rdir / name for name in common] + [port_src]


def render_linker_script(board: Board | str, stack_size: int | None = None) -> str:
    board = load_board(board)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir())),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return env.get_template("linker.ld.j2").render(
        board=board, stack_size=stack_size if stack_size is not None else board.stack_size)


def find_gcc(board: Board | str | None = None) -> str:
    """The cross compiler for `board` (arm-none-eabi-gcc when None)."""
    riscv = board is not None and board_arch(load_board(board)) == "riscv"
    gcc, hint = (GCC_RISCV, APT_INSTALL_RISCV) if riscv else (GCC, APT_INSTALL)
    path = shutil.which(gcc)
    if path is None:
        raise ToolError(f"{gcc} not found; install it with: {hint}")
    return path


_ERROR_LINE = re.compile(r"\berror:|undefined reference|overflowed|will not fit|cannot find|No such file")


def _first_error(log: str) -> str:
    lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
    for ln in lines:
        if _ERROR_LINE.search(ln):
            return re.sub(r"^\S*/ld(\.exe)?: ", "ld: ", ln)
    return lines[0] if lines else "(no output)"


def build_firmware(board: Board | str, sources: Sequence[Path | str], out_dir: Path | str,
                   extra_cflags: Iterable[str] = (), include_dirs: Iterable[Path | str] = (), *,
                   name: str = "firmware", stack_size: int | None = None,
                   with_runtime: bool = True) -> Path:
    """Compile and link `sources` (+ the board runtime) into `out_dir/<name>.elf`.

    Also writes `<name>.ld` (the rendered linker script), `<name>.map` and
    `<name>.log` (compiler output). Returns the ELF path.
    Raises ToolError if the compiler is missing or the build fails (first error line).
    """
    board = load_board(board)
    _require_make_board(board)
    gcc = find_gcc(board)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    ld = out / f"{name}.ld"
    ld.write_text(render_linker_script(board, stack_size), encoding="utf-8")
    elf = out / f"{name}.elf"
    map_file = out / f"{name}.map"
    srcs = [Path(s) for s in sources]
    for s in srcs:
        if not s.is_file():
            raise TinygenError(f"firmware source not found: {s}")
    if with_runtime:
        srcs = runtime_sources(board) + srcs

    lflags = link_flags(board, ld, map_file)
    cflags = compile_flags(board, extra_cflags, include_dirs)
    lflags = [f for f in lflags if not (f.startswith("--specs=") and f in cflags)]   # one command: specs once
    cmd = [gcc, *cflags, *map(str, srcs), *lflags, "-o", str(elf)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    log = proc.stdout + proc.stderr
    (out / f"{name}.log").write_text(" ".join(cmd) + "\n" + log, encoding="utf-8")
    if proc.returncode != 0:
        raise ToolError(f"{Path(gcc).name} failed for {board.id}: {_first_error(log)}")
    return elf


@dataclass(frozen=True)
class MemoryUsage:
    text: int   # code + read-only data (+ .data initialisers) in flash
    data: int
    bss: int    # includes .noinit

    @property
    def flash(self) -> int:
        return self.text + self.data

    @property
    def ram(self) -> int:
        return self.data + self.bss


def memory_usage(elf: Path | str) -> MemoryUsage:
    """Section sizes from `arm-none-eabi-size` (`riscv64-unknown-elf-size` for a RISC-V ELF; Berkeley format)."""
    with open(elf, "rb") as f:
        head = f.read(20)
    riscv = len(head) == 20 and int.from_bytes(head[18:20], "little") == 243   # e_machine EM_RISCV
    tool, hint = (SIZE_RISCV, APT_INSTALL_RISCV) if riscv else (SIZE, APT_INSTALL)
    size = shutil.which(tool)
    if size is None:
        raise ToolError(f"{tool} not found; install it with: {hint}")
    proc = subprocess.run([size, str(elf)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise ToolError(f"{tool} failed: {_first_error(proc.stderr)}")
    fields = proc.stdout.splitlines()[1].split()
    return MemoryUsage(text=int(fields[0]), data=int(fields[1]), bss=int(fields[2]))
