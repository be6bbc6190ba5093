"""Will a model fit a board? Checked before any project file is written.

    from tinygen.boards.fit import check_fit, estimate
    report = estimate(graph, "qemu-stm32f4")     # FitReport, never raises on a misfit
    check_fit(graph, "qemu-stm32f4")             # raises TinygenError (one line) on a misfit

Flash = firmware base (runtime, serial protocol, app; plus the Arduino core on
PlatformIO boards) + code for each distinct kernel + per-op call code and parameter
structs + the constants (weights as laid out for the kernels, biases, requantization and
lookup tables: exact once the code is generated, the model's constant tensors before).
RAM = tensor arena (the static memory plan; the firmware's inputs and outputs live in
it) + the main stack + the runtime's buffers (serial ring buffer, protocol frames, per-layer
records; plus the Arduino core's static data on PlatformIO boards).

The code figures are estimates measured on real builds (arm-none-eabi-gcc 12, -O2) and
rounded up, so a model the check accepts links; the exact numbers come from
`tinygen build`. A board file may override the usable flash/RAM and the base cost with
a `[fit]` table (`flash_bytes`, `ram_bytes`, `base_flash`, `base_ram`; `flash_name`: what
the flash region is called in messages).

A board with a `[rodata]` region (the linker script puts .rodata there, e.g. the
Cortex-M55 board's weights in QSPI flash while its code runs from the 512 KB ITCM) is
checked per region: code + firmware in [flash], the constants in [rodata], the arena in
RAM; a misfit names the region that overflows.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from tinygen.boards.catalog import Board, list_boards, load_board
from tinygen.errors import TinygenError
from tinygen.model.graph import Graph

# Firmware without the model, by build flavour: (flash bytes, static RAM bytes, stack
# excluded). "make": tinygen's bare-metal runtime + protocol + app, newlib-nano, libgcc.
# The PlatformIO figures add the Arduino core (mbed OS for nRF52, ESP-IDF for ESP32).
_BASE = {
    "make": (14 * 1024, 6 * 1024),
    "nordicnrf52": (112 * 1024, 64 * 1024),     # Arduino mbed core: USB CDC, RTOS, heap
    "espressif32": (288 * 1024, 24 * 1024),     # arduino-esp32 (static DRAM; see the board's [fit])
}
_DEFAULT_BASE = (300 * 1024, 64 * 1024)

# Code bytes per distinct kernel (op type), generous for the heavier ones.
_KERNEL_CODE = {
    "CONV_2D": 3400, "DEPTHWISE_CONV_2D": 2200, "FULLY_CONNECTED": 900, "SOFTMAX": 1600,
    "AVERAGE_POOL_2D": 700, "MAX_POOL_2D": 600, "ADD": 1100, "SUB": 1100, "MUL": 900,
    "MEAN": 900, "LOGISTIC": 900, "TANH": 900, "HARD_SWISH": 900, "LEAKY_RELU": 600,
    "CONCATENATION": 500, "PAD": 600, "STRIDED_SLICE": 800, "TRANSPOSE": 800,
    "QUANTIZE": 600, "DEQUANTIZE": 500,
}
_KERNEL_DEFAULT = 500
_PER_OP = 320            # call site, parameter struct, per-layer bookkeeping
_PER_CHANNEL = 12        # folded bias + multiplier + shift per output channel
_RUNTIME_PER_OP_RAM = 16 # per-layer cycle counts kept for the protocol's PROFILE


def _kib(n: int) -> str:
    return f"{n / 1024:.1f} KB"


@dataclass(frozen=True)
class FitReport:
    board: str
    model: str
    # flash
    weights: int
    code: int
    base_flash: int
    flash_avail: int
    # RAM
    arena: int
    io: int
    stack: int
    base_ram: int
    ram_avail: int
    details: dict = field(default_factory=dict, compare=False)
    # Boards with a separate read-only data region ([rodata]): the constants go there.
    rodata_avail: int = 0
    flash_name: str = "flash"
    rodata_name: str = ""

    @property
    def split(self) -> bool:
        """Code and constants in separate regions ([flash] and [rodata])."""
        return self.rodata_avail > 0

    @property
    def flash_needed(self) -> int:
        """Non-volatile bytes in all: firmware + code + constants (whichever regions)."""
        return self.base_flash + self.code + self.weights

    @property
    def code_needed(self) -> int:
        """Bytes in the [flash] region: everything, or code + firmware on a split board."""
        return self.base_flash + self.code + (0 if self.split else self.weights)

    @property
    def fits_code(self) -> bool:
        return self.code_needed <= self.flash_avail

    @property
    def fits_rodata(self) -> bool:
        return not self.split or self.weights <= self.rodata_avail

    @property
    def ram_needed(self) -> int:
        return self.arena + self.io + self.stack + self.base_ram

    @property
    def fits_flash(self) -> bool:
        return self.fits_code and self.fits_rodata

    @property
    def fits_ram(self) -> bool:
        return self.ram_needed <= self.ram_avail

    @property
    def fits(self) -> bool:
        return self.fits_flash and self.fits_ram

    def as_dict(self) -> dict:
        return {
            "board": self.board, "model": self.model, "fits": self.fits,
            "flash": {"needed": self.flash_needed, "available": self.flash_avail + self.rodata_avail,
                      "weights": self.weights, "code": self.code, "base": self.base_flash},
            "ram": {"needed": self.ram_needed, "available": self.ram_avail, "arena": self.arena, "io": self.io,
                    "stack": self.stack, "base": self.base_ram},
            "regions": self.regions(),
        }

    def regions(self) -> list[dict]:
        """Per region: name, needed, available, fits (one entry unless the board is split)."""
        out = [{"region": self.flash_name, "needed": self.code_needed, "available": self.flash_avail,
                "fits": self.fits_code}]
        if self.split:
            out.append({"region": self.rodata_name, "needed": self.weights, "available": self.rodata_avail,
                        "fits": self.fits_rodata})
        out.append({"region": "RAM", "needed": self.ram_needed, "available": self.ram_avail, "fits": self.fits_ram})
        return out

    def code_text(self) -> str:
        return (f"{self.flash_name} {_kib(self.code_needed)} (code ~{_kib(self.code)} + "
                f"firmware ~{_kib(self.base_flash)}) of {_kib(self.flash_avail)}")

    def rodata_text(self) -> str:
        return f"{self.rodata_name} {_kib(self.weights)} (weights) of {_kib(self.rodata_avail)}"

    def flash_text(self) -> str:
        if self.split:
            return f"{self.code_text()}; {self.rodata_text()}"
        return (f"{self.flash_name} {_kib(self.flash_needed)} (weights {_kib(self.weights)} + code ~{_kib(self.code)} + "
                f"firmware ~{_kib(self.base_flash)}) of {_kib(self.flash_avail)}")

    def ram_text(self) -> str:
        io = f" + I/O {_kib(self.io)}" if self.io else ""
        return (f"RAM {_kib(self.ram_needed)} (arena {_kib(self.arena)}{io} + "
                f"stack {_kib(self.stack)} + runtime ~{_kib(self.base_ram)}) of {_kib(self.ram_avail)}")

    def summary(self) -> str:
        return f"{self.model} on {self.board}: {self.flash_text()}; {self.ram_text()}"


def _base(board: Board) -> tuple[int, int]:
    if board.build_system == "make":
        base = _BASE["make"]
    else:
        base = _BASE.get(board.platformio.platform if board.platformio else "", _DEFAULT_BASE)
    fit = board.extra.get("fit", {}) if isinstance(board.extra.get("fit"), dict) else {}
    return int(fit.get("base_flash", base[0])), int(fit.get("base_ram", base[1]))


def available(board: Board) -> tuple[int, int]:
    """(flash bytes, RAM bytes) the firmware may use on `board`; flash counts a separate
    [rodata] region too (what `tinygen build` reports the firmware's text + data against)."""
    fit = board.extra.get("fit", {}) if isinstance(board.extra.get("fit"), dict) else {}
    ro = rodata_region(board)
    return (int(fit.get("flash_bytes", board.flash.size)) + (ro[1] if ro else 0),
            int(fit.get("ram_bytes", board.ram.size)))


def rodata_region(board: Board) -> tuple[str, int] | None:
    """(name, bytes) of the board's separate read-only data region ([rodata]), if any."""
    ro = board.extra.get("rodata")
    if not isinstance(ro, dict) or not ro.get("size"):
        return None
    return str(ro.get("name", "rodata")), int(ro["size"])


def stack_bytes(board: Board) -> int:
    """Stack reserved for the firmware: the board's main stack (bare metal) or the
    Arduino loop task's stack (counted in the core's base RAM, so 0 here)."""
    return board.stack_size if board.build_system == "make" else 0


def _arena_bytes(graph: Graph) -> int:
    from tinygen.codegen.planner import plan_memory

    return plan_memory(graph).arena_bytes


def model_costs(graph: Graph, arena_bytes: int | None = None, constant_bytes: int | None = None) -> dict:
    """Board-independent numbers: weights, code estimate, arena, I/O bytes.

    `constant_bytes` / `arena_bytes`: the exact figures of generated code
    (`tinygen.codegen.GeneratedModel.flash_bytes` / `.arena_bytes`: weights as laid out
    for the kernels, folded biases, requantization and lookup tables). Without them the
    weights are the model's constant tensors (a lower bound) and the arena is planned here.
    """
    weights = sum(t.nbytes for t in graph.tensors if t.is_const) if constant_bytes is None else constant_bytes
    kinds = graph.op_names()
    kernel_code = sum(_KERNEL_CODE.get(k, _KERNEL_DEFAULT) for k in kinds)
    generated = _PER_OP * len(graph.operators)
    for op in graph.operators:      # folded biases + requantization (counted in exact constants)
        if constant_bytes is None and op.op in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED") and op.outputs:
            shape = graph.tensors[op.outputs[0]].shape
            generated += _PER_CHANNEL * (shape[-1] if shape else 1)
    code = kernel_code + generated
    # The firmware reads inputs and writes outputs in place in the arena (NAME_run()):
    # no separate I/O buffers.
    io = 0
    arena = _arena_bytes(graph) if arena_bytes is None else arena_bytes
    return {"weights": weights, "code": code, "kernel_code": kernel_code, "generated_code": generated,
            "arena": arena, "io": io,
            "runtime_ram": _RUNTIME_PER_OP_RAM * len(graph.operators)}


def estimate(graph: Graph, board: Board | str, *, costs: dict | None = None) -> FitReport:
    board = load_board(board)
    c = costs if costs is not None else model_costs(graph)
    base_flash, base_ram = _base(board)
    flash_avail, ram_avail = available(board)
    fit = board.extra.get("fit", {}) if isinstance(board.extra.get("fit"), dict) else {}
    ro = rodata_region(board)
    if ro:
        flash_avail -= ro[1]        # the [flash] region alone: code + firmware
    return FitReport(board=board.id, model=graph.name, weights=c["weights"], code=c["code"],
                     base_flash=base_flash, flash_avail=flash_avail, arena=c["arena"], io=c["io"],
                     stack=stack_bytes(board), base_ram=base_ram + c["runtime_ram"], ram_avail=ram_avail,
                     rodata_avail=ro[1] if ro else 0, rodata_name=ro[0] if ro else "",
                     flash_name=str(fit.get("flash_name", "flash")))


def boards_that_fit(graph: Graph, *, costs: dict | None = None) -> list[str]:
    c = costs if costs is not None else model_costs(graph)
    return [b for b in list_boards() if estimate(graph, b, costs=c).fits]


def check_fit(graph: Graph, board: Board | str, *, generated=None) -> FitReport:
    """The FitReport when the model fits `board`; otherwise a one-line TinygenError with
    the numbers and the boards it would fit. `generated`: the model's generated code
    (tinygen.codegen.GeneratedModel), for its exact constant and arena bytes."""
    board = load_board(board)
    costs = (model_costs(graph) if generated is None else
             model_costs(graph, arena_bytes=generated.arena_bytes, constant_bytes=generated.flash_bytes))
    report = estimate(graph, board, costs=costs)
    if report.fits:
        return report
    problems = []
    if report.split:
        if not report.fits_code:
            problems.append(f"needs {report.code_text()}")
        if not report.fits_rodata:
            problems.append(f"needs {report.rodata_text()}")
    elif not report.fits_flash:
        problems.append(f"needs {report.flash_text()}")
    if not report.fits_ram:
        problems.append(f"needs {report.ram_text()}")
    others = [b for b in boards_that_fit(graph, costs=costs) if b != board.id]
    where = f"it fits: {', '.join(others)}" if others else "it fits none of the known boards"
    raise TinygenError(f"model {graph.name!r} does not fit {board.id}: {'; '.join(problems)}; {where}")


__all__ = ["FitReport", "available", "boards_that_fit", "check_fit", "estimate", "model_costs", "stack_bytes"]
