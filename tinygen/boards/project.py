"""Firmware projects: a standalone directory that rebuilds without tinygen installed.

    from tinygen.boards.project import write_project, load_project
    proj = write_project(graph, "qemu-stm32f4", "out/kws", name="kws")
    proj.manifest["expected"]          # the emulator's output for the built-in test vector

Bare-metal boards (build_system = "make")::

    DIR/Makefile            flags from tinygen.firmware_build (the one place they live)
    DIR/linker.ld           templates/linker.ld.j2 for the board
    DIR/model/              generated NAME_model.c/.h + the kernel sources they call
    DIR/runtime/            firmware/runtime: startup, board port, SysTick, I/O helpers
    DIR/protocol/           firmware/protocol: framed serial protocol + tg_app.h
    DIR/app/                firmware/app: main, application logic, tg_app.h over the model,
                            tg_fw_config.h (rendered)

PlatformIO boards (Arduino framework): `DIR/platformio.ini` and a flat `DIR/src/` with
the same C sources, an Arduino port of the runtime (tg_port_arduino.cpp) and a sketch
(main.cpp, setup()/loop()). Both kinds get `DIR/tinygen.json` (the manifest: board, model,
I/O, test vector seed, expected self-test output, fit estimate), `DIR/README.md` and a copy
of the .tflite model.

Nothing half-written: everything goes into a temporary sibling directory that replaces
DIR only when complete. An existing DIR is replaced only when it is empty or a previous
tinygen project (it has a tinygen.json written by tinygen).
"""
from __future__ import annotations

import json
import os
import shlex
import shutil
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import jinja2
import numpy as np

from tinygen import __version__
from tinygen.boards.catalog import Board, data_dir, load_board
from tinygen.errors import TinygenError
from tinygen.model.graph import Graph

MANIFEST = "tinygen.json"
GENERATOR = "tinygen.project"
TEST_SEED = 0x7467_0001          # built-in test vector: LCG seed of input 0 (input k: + k)
LCG_MUL, LCG_ADD = 1664525, 1013904223
MODEL_CFLAGS = ("-DTG_LAYER_TIMING", "-DTG_LAYER_OUTPUT")
CAPTURE_MARGIN = 2048             # RAM headroom kept free when sizing the layer-capture buffer

# firmware/app files per build flavour
_APP_COMMON = ("tg_fw.h", "tg_fw.c", "tg_app_model.c")
_APP_BARE = ("tg_main.c",)
_APP_ARDUINO = ("tg_port_arduino.cpp",)
_PROTOCOL = ("tg_proto.c", "tg_proto.h", "tg_app.h")
_RUNTIME_ARDUINO = ("tg_io.c", "tg_bench.c", "tg_port.h", "tg_runtime.h")

# MLPerf firmware (firmware/mlperf): sources, and the energy-mode timestamp pin per real board
# (the reference submissions use the Arduino header's D7).
_MLPERF_APP = ("tg_mlperf.c",)
ENERGY_PINS = {
    "nucleo-f446re": ("PA8 (Arduino header D7: CN9 pin 8; morpho CN10 pin 23)", "tg_mlperf_pin_stm32f4.c"),
    "nano33ble": ("D7 (P0.23)", "tg_mlperf_pin_arduino.cpp"),
    "esp32-devkitc": ("GPIO4 (J3 pin 12 on the DevKitC V4)", "tg_mlperf_pin_arduino.cpp"),
}
ENERGY_BAUD = 9600               # the reference submissions' energy-mode rate (to the IO manager board)

# PlatformIO boards whose Serial is a USB CDC port: wait for the host before the banner.
_USB_CDC = ("usb-cdc",)


# ------------------------------------------------------------------ test vector

def lcg_bytes(n: int, seed: int) -> np.ndarray:
    """n bytes of tinygen's firmware test vector (firmware/app/tg_fw.c: tg_fw_test_vector)."""
    out = np.empty(n, dtype=np.uint8)
    x = seed & 0xFFFFFFFF
    for i in range(n):
        x = (x * LCG_MUL + LCG_ADD) & 0xFFFFFFFF
        out[i] = x >> 24
    return out


def _float_test_params(graph: Graph, tid: int) -> tuple[float, int]:
    """(scale, zero point) used to make a float32 input's test values: those of the QUANTIZE
    op that reads it when there is one, else 1/16 and 0."""
    for op in graph.operators:
        if op.op == "QUANTIZE" and op.inputs and op.inputs[0] == tid:
            out = graph.tensors[op.outputs[0]]
            if out.quant is not None and out.scale > 0:
                return float(np.float32(out.scale)), int(out.zero_point)
    return 1.0 / 16.0, 0


def selftest_inputs(graph: Graph, seed: int = TEST_SEED) -> list[np.ndarray]:
    """The self-test inputs the firmware builds, one array per model input (model shape,
    model dtype): input k is the LCG stream from seed + k, as int8, int16 or int32 (the firmware
    fills the input's bytes, little-endian), or for float32 inputs float32((q - zero_point) * scale)
    of those int8 values q."""
    xs = []
    for k, t in enumerate(graph.input_tensors):
        if t.dtype == np.float32:
            scale, zp = _float_test_params(graph, t.index)
            q = lcg_bytes(t.size, seed + k).view(np.int8).astype(np.int32)
            x = (q - zp).astype(np.float32) * np.float32(scale)
        elif t.dtype in (np.int8, np.int16, np.int32):
            x = lcg_bytes(t.nbytes, seed + k).view(np.dtype(t.dtype).newbyteorder("<")).astype(t.dtype)
        else:
            raise TinygenError(f"input {k} '{t.name}' has dtype {t.dtype_name}; the firmware feeds int8, int16, int32 or float32")
        xs.append(x.reshape(t.shape))
    return xs


_EXPECTED_CACHE: dict[tuple[str, int], dict] = {}


def expected_selftest(graph: Graph, seed: int = TEST_SEED) -> dict:
    """What the firmware's self-test line must report, computed with the emulator
    (remembered per model SHA-256 and seed)."""
    key = (graph.sha256, seed)
    if graph.sha256 and key in _EXPECTED_CACHE:
        return json.loads(json.dumps(_EXPECTED_CACHE[key]))
    res = _expected_selftest(graph, seed)
    if graph.sha256:
        _EXPECTED_CACHE[key] = res
    return json.loads(json.dumps(res))


def _expected_selftest(graph: Graph, seed: int) -> dict:
    from tinygen.emulator.engine import Emulator

    xs = selftest_inputs(graph, seed)
    emu = Emulator(graph)
    outs = emu.run_internal([x[None] for x in xs])
    res = {"seed": seed, "inputs": [{"bytes": int(x.nbytes), "crc32": f"0x{zlib.crc32(x.tobytes()):08x}"} for x in xs],
           "outputs": []}
    for t, o in zip(graph.output_tensors, outs):
        a = np.ascontiguousarray(o[0]).astype(t.dtype)
        entry = {"bytes": int(a.nbytes), "crc32": f"0x{zlib.crc32(a.tobytes()):08x}"}
        if a.dtype == np.int8:
            entry["values"] = [int(v) for v in a.reshape(-1)]
        else:
            entry["hex"] = a.tobytes().hex()
        res["outputs"].append(entry)
    return res


# ------------------------------------------------------------------ helpers

def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(data_dir() / "templates" / "project")),
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                              trim_blocks=True, lstrip_blocks=True)


def _c_float(v: float) -> str:
    f = float(np.float32(v))
    return f.hex() + "f" if np.isfinite(f) else "0.0f"


def _c_str(s: str) -> str:
    s = s.encode("ascii", "replace").decode()
    return s.replace("\\", "\\\\").replace('"', '\\"')


def _dtype_code(t) -> int:
    from tinygen.codegen.generator import DTYPE_CODES

    return DTYPE_CODES.get(np.dtype(t.dtype), 0xFF)


def _io_entry(graph: Graph, t, is_input: bool) -> dict:
    dims = [int(d) for d in t.shape] or [1]
    if len(dims) > 6:
        raise TinygenError(f"tensor '{t.name}' has {len(dims)} dimensions; the firmware describes at most 6")
    scale = float(np.float32(t.scale)) if t.quant is not None else 0.0
    zp = int(t.zero_point) if t.quant is not None else 0
    padded = dims + [0] * (6 - len(dims))
    entry = {
        "name": t.name, "shape": dims, "dtype": t.dtype_name, "dtype_code": _dtype_code(t),
        "scale": scale, "zero_point": zp, "nbytes": int(t.nbytes),
        "c_info": "{%d, %d, {%s}, %s, %d}" % (_dtype_code(t), len(dims), ", ".join(map(str, padded)), _c_float(scale), zp),
    }
    if is_input:
        ts, tz = _float_test_params(graph, t.index) if t.dtype == np.float32 else (0.0, 0)
        entry.update(test_scale_c=_c_float(ts), test_zero_point=tz)
    return entry


def _io_json(entries: list[dict]) -> dict:
    return {k: [{"shape": e["shape"], "dtype": e["dtype"], "scale": e["scale"], "zero_point": e["zero_point"]}
                for e in entries[k]] for k in ("inputs", "outputs")}


def layer_table(graph: Graph, plan) -> list[dict]:
    """Per op (layer k = op k): bytes of its first output and whether those arena bytes
    survive to the end of an inference (no later op writes over them)."""
    step = {op: s for s, op in enumerate(plan.order)}
    writes: dict[int, list[tuple[int, int]]] = {}
    for op in graph.operators:
        ranges = []
        for tid in op.outputs:
            t = graph.tensors[tid]
            if t.is_const or tid in plan.aliases or tid not in plan.offsets:
                continue
            ranges.append((plan.offsets[tid], plan.offsets[tid] + t.nbytes))
        off = plan.scratch_offsets.get(op.index)
        if off is not None:
            ranges.append((off, off + plan.scratch_bytes.get(op.index, 0)))
        writes[op.index] = ranges
    layers = []
    for op in graph.operators:
        outs = [tid for tid in op.outputs if not graph.tensors[tid].is_const and tid in plan.offsets]
        if not outs:
            layers.append({"op": op.op, "bytes": 0, "kept": 0})
            continue
        t = graph.tensors[outs[0]]
        lo, hi = plan.offsets[outs[0]], plan.offsets[outs[0]] + t.nbytes
        later = [j for j in plan.order if step[j] > step[op.index]]
        clobbered = any(a < hi and lo < b for j in later for a, b in writes[j])
        layers.append({"op": op.op, "bytes": int(t.nbytes), "kept": 0 if clobbered else 1})
    return layers


# ------------------------------------------------------------------ project

@dataclass
class Project:
    path: Path
    manifest: dict

    @property
    def board(self) -> Board:
        return load_board(self.manifest["board"])

    @property
    def name(self) -> str:
        return self.manifest["name"]

    @property
    def build_system(self) -> str:
        return self.manifest["build_system"]

    @property
    def firmware(self) -> Path:
        """The ELF (make) or the image PlatformIO uploads."""
        return self.path / self.manifest["firmware"]


def load_project(path) -> Project:
    p = Path(path)
    m = p / MANIFEST
    if not p.is_dir():
        raise TinygenError(f"{p}: no such project directory (make one with: tinygen generate MODEL --board BOARD -o {p})")
    if not m.is_file():
        raise TinygenError(f"{p}: not a tinygen project (no {MANIFEST}); make one with: tinygen generate MODEL --board BOARD -o {p}")
    try:
        manifest = json.loads(m.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise TinygenError(f"{m}: unreadable manifest: {e}") from None
    if manifest.get("generator") != GENERATOR or "board" not in manifest:
        raise TinygenError(f"{m}: not a manifest written by tinygen")
    return Project(p, manifest)


def _is_replaceable(out: Path) -> bool:
    if not out.exists():
        return True
    if not out.is_dir():
        raise TinygenError(f"{out}: exists and is not a directory")
    if not any(out.iterdir()):
        return True
    try:
        load_project(out)
        return True
    except TinygenError:
        raise TinygenError(f"{out}: exists and is not a tinygen project; refusing to overwrite it") from None


def _copy(src_dir: Path, names, dst_dir: Path) -> list[Path]:
    dst_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for n in names:
        src = src_dir / n
        if not src.is_file():
            raise TinygenError(f"firmware source {src} not found (incomplete tinygen installation?)")
        shutil.copyfile(src, dst_dir / n)
        out.append(dst_dir / n)
    return out


def _make_vars(board: Board, name: str, mlperf_app: tuple[str, ...] | None = None) -> dict:
    """Makefile variables. `mlperf_app`: the MLPerf firmware's app/ sources instead of
    tinygen's protocol firmware (no per-layer hooks, no protocol/)."""
    from tinygen.boards.firmware_build import board_arch, compile_flags, link_flags, runtime_sources

    if mlperf_app is None:
        cflags = compile_flags(board, extra_cflags=MODEL_CFLAGS, include_dirs=["model", "protocol", "app"],
                               runtime_include="runtime")
    else:
        cflags = compile_flags(board, include_dirs=["model", "app"], runtime_include="runtime")
    ldflags = link_flags(board, "linker.ld", "$(BUILD)/$(NAME).map")
    runtime = [f"runtime/{p.name}" for p in runtime_sources(board)]
    riscv = board_arch(board) == "riscv"
    if mlperf_app is None:
        app = [f"app/{n}" for n in _APP_COMMON + _APP_BARE if n.endswith(".c")]
        sources = runtime + ["$(wildcard model/*.c)", "protocol/tg_proto.c"] + app
    else:
        sources = runtime + ["$(wildcard model/*.c)"] + [f"app/{n}" for n in _APP_BARE + mlperf_app]
    return {
        "cflags": " ".join(shlex.quote(f) for f in cflags),
        "ldflags": " ".join(shlex.quote(f) if "$(" not in f else f for f in ldflags),
        "sources": sources,
        "toolchain": "riscv64-unknown-elf-" if riscv else "arm-none-eabi-",
        "toolchain_apt": ("gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf" if riscv
                          else "gcc-arm-none-eabi libnewlib-arm-none-eabi"),
        "qemu_binary": board.emulator.binary if board.emulator else "qemu-system-arm",
    }


def _qemu_run_args(board: Board) -> str:
    if board.emulator is None:
        return ""
    args = ["-M", board.emulator.machine, "-nographic", *board.emulator.args]
    args += ["-serial", "null"] * board.emulator.serial_index
    args += ["-serial", "mon:stdio", "-semihosting-config", "enable=on,target=native", "-icount", "shift=0"]
    return " ".join(args)


def _openocd_args(board: Board) -> str:
    oc = board.extra.get("openocd", {})
    if not isinstance(oc, dict) or "interface" not in oc or "target" not in oc:
        return ""
    return f"-f {oc['interface']} -f {oc['target']}"


def write_project(graph: Graph, board: Board | str, out_dir, name: str | None = None, *,
                  seed: int = TEST_SEED, progress=None, mlperf: str | None = None,
                  energy: bool = False) -> Project:
    """Write the firmware project for `graph` on `board` into `out_dir` (all or nothing).

    The fit check runs first on the model's own sizes, then on the generated code's exact
    constant and arena bytes, before anything reaches out_dir.
    Raises TinygenError (one line) when the model does not fit the board, when out_dir holds
    something else than a previous tinygen project, or when the code generator refuses the
    model. Returns the Project (path + manifest).

    `mlperf`: a benchmark ID (kws01, vww01, ic01, ad01 or the user's own name): the firmware
    speaks the MLPerf Tiny / EEMBC DUT protocol (firmware/mlperf) instead of tinygen's framed
    protocol; `energy`: its energy mode (real boards: GPIO timestamps, 9600 baud)."""
    from tinygen.codegen.carray import c_identifier
    from tinygen.boards.fit import check_fit

    board = load_board(board)
    ident = c_identifier(name or graph.name)
    say = progress or (lambda msg: None)
    spec = None
    if energy and not mlperf:
        raise TinygenError("energy mode is part of the MLPerf firmware: give --mlperf ID too")
    if mlperf is not None:
        from tinygen.boards.mlperf import mlperf_spec

        spec = mlperf_spec(graph, mlperf)
        if energy and board.is_emulated:
            raise TinygenError(f"energy mode needs a real board (its timestamps are GPIO pulses to an energy "
                               f"monitor); {board.id} is emulated: use performance mode")
        if energy and board.id not in ENERGY_PINS:
            raise TinygenError(f"energy mode: no timestamp pin known for {board.id}; boards with one: "
                               f"{', '.join(sorted(ENERGY_PINS))}")
    check_fit(graph, board)      # quick refusal on the model's own sizes (a lower bound), before anything
    out = Path(out_dir)
    _is_replaceable(out)
    out.parent.mkdir(parents=True, exist_ok=True)

    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        say(f"generating C for {graph.name} ({len(graph.operators)} ops) for {board.id}")
        manifest = (_write_tree(graph, board, ident, tmp, seed) if spec is None else
                    _write_mlperf_tree(graph, board, ident, tmp, seed, spec, energy))
        _replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Project(out, manifest)


def _replace_dir(tmp: Path, out: Path) -> None:
    if not out.exists():
        os.replace(tmp, out)
        return
    _is_replaceable(out)     # checked again: it may have changed meanwhile
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
    os.rmdir(old)
    os.replace(out, old)
    try:
        os.replace(tmp, out)
    except BaseException:
        os.replace(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


PLAN_PNG = "memory-plan.png"


def _write_plan_picture(graph: Graph, plan, root: Path) -> str | None:
    """The memory plan drawn (tinygen.codegen.plan_plot) beside the README; None when
    matplotlib (the `report` extra) is not installed."""
    try:
        from tinygen.codegen.plan_plot import draw_plan

        png = draw_plan(graph, plan, "png")
    except ImportError:
        return None
    (root / PLAN_PNG).write_bytes(png)
    return PLAN_PNG


def _write_build_files(env, ctx, board: Board, ident: str, root: Path, fw: Path, app_dir: Path, runtime_dir: Path,
                       *, pio: bool, build_flags: list[str], mlperf_app: tuple[str, ...] | None = None) -> str:
    """The board's port, runtime and build files: main.cpp + platformio.ini (PlatformIO boards) or
    the bare-metal runtime, linker script and Makefile. Returns the firmware's path in the project."""
    src = root / "src"
    if pio:
        _copy(fw / "app", _APP_ARDUINO, app_dir)
        _copy(fw / "runtime", _RUNTIME_ARDUINO, runtime_dir)
        if board.serial.interface in _USB_CDC:
            build_flags = [*build_flags, "-DTG_SERIAL_WAIT_HOST=1"]
        (src / "main.cpp").write_text(env.get_template("main.cpp.j2").render(**ctx), encoding="utf-8")
        (root / "platformio.ini").write_text(env.get_template("platformio.ini.j2").render(
            build_flags=build_flags, env_name=board.id, **ctx), encoding="utf-8")
        return f".pio/build/{board.id}/firmware.{'bin' if board.platformio.platform == 'espressif32' else 'elf'}"
    from tinygen.boards.firmware_build import render_linker_script, runtime_sources

    _copy(fw / "app", _APP_BARE, app_dir)
    _copy(fw / "runtime", [p.name for p in runtime_sources(board)], runtime_dir)
    _copy(fw / "runtime", sorted(p.name for p in (fw / "runtime").glob("*.h")), runtime_dir)
    (root / "linker.ld").write_text(render_linker_script(board), encoding="utf-8")
    (root / "Makefile").write_text(env.get_template("Makefile.j2").render(
        qemu_args=_qemu_run_args(board), openocd_args=_openocd_args(board),
        **_make_vars(board, ident, mlperf_app), **ctx), encoding="utf-8")
    return f"build/{ident}.elf"


def has_state(graph: Graph) -> bool:
    """The model has ops with variable tensors (recurrent state) that persist across runs."""
    from tinygen.ops import REGISTRY

    return any(getattr(REGISTRY.get(op.op), "stateful", False) for op in graph.operators)


def _tree_dirs(root: Path, pio: bool, protocol: bool = True) -> tuple:
    """(model, app, protocol, runtime) directories of a project, created: all `src/` on PlatformIO
    boards; the protocol one None when the firmware has no tinygen protocol."""
    if pio:
        src = root / "src"
        dirs = (src, src, src if protocol else None, src)
    else:
        dirs = (root / "model", root / "app", root / "protocol" if protocol else None, root / "runtime")
    for d in {d for d in dirs if d is not None}:
        d.mkdir(parents=True, exist_ok=True)
    return dirs


def _io_entries(graph: Graph) -> tuple[list[dict], list[dict]]:
    return ([_io_entry(graph, t, True) for t in graph.input_tensors],
            [_io_entry(graph, t, False) for t in graph.output_tensors])


def _capture_plan(board: Board, report, gen, layers: list[dict], inputs: list[dict]) -> tuple[int, int, str]:
    """Re-run capture of layers whose arena bytes get reused, when the RAM allows it:
    (capture bytes, saved input bytes, what the layer outputs cover)."""
    from tinygen.boards.fit import available

    lost = [lay["bytes"] for lay in layers if not lay["kept"] and lay["bytes"]]
    capture = max(lost, default=0)
    save = sum(e["nbytes"] for e in inputs) if capture else 0
    headroom = available(board)[1] - report.ram_needed
    if capture and capture + save + gen.state_bytes + CAPTURE_MARGIN > headroom:   # + the saved state
        capture = save = 0
    note = ("every layer" if capture or not lost else
            f"{sum(lay['kept'] for lay in layers)} of {len(layers)} layers (no RAM for re-run capture)")
    return capture, save, note


def _template_ctx(graph: Graph, board: Board, ident: str, inputs: list[dict], outputs: list[dict], **more) -> dict:
    """What the firmware templates are rendered with: names, I/O, the model's hash and I/O JSON as C."""
    sha = graph.sha256
    io_json = json.dumps(_io_json({"inputs": inputs, "outputs": outputs}), separators=(",", ":"))[1:-1]
    return dict(name=ident, model_name=graph.name, board=board, version=__version__, inputs=inputs,
                outputs=outputs, sha256_c=", ".join(f"0x{sha[i:i + 2]}" for i in range(0, 64, 2)),
                io_json_c=_c_str(io_json), **more)


def _write_model_file(graph: Graph, root: Path, ident: str) -> None:
    if graph.model_bytes:
        (root / f"{ident}.tflite").write_bytes(graph.model_bytes)


def _manifest_head(graph: Graph, board: Board, ident: str, firmware: str) -> dict:
    """The manifest's first entries: what made the project, for which model and board, its firmware."""
    return {
        "generator": GENERATOR,
        "tinygen": __version__,
        "name": ident,
        "model": graph.name,
        "model_file": f"{ident}.tflite" if graph.model_bytes else None,
        "model_sha256": graph.sha256,
        "board": board.id,
        "build_system": board.build_system,
        "emulated": board.is_emulated,
        "firmware": firmware,
    }


_IO_KEYS = ("name", "shape", "dtype", "scale", "zero_point", "nbytes")


def _manifest_sizes(board: Board, gen, avail: tuple[int, int], inputs: list[dict], outputs: list[dict]) -> dict:
    """The manifest's memory entries (arena, constants, what the board has, stack) and I/O tensors."""
    flash_avail, ram_avail = avail
    return {
        "arena_bytes": gen.arena_bytes,
        "constant_bytes": gen.flash_bytes,
        "flash_available": flash_avail,
        "ram_available": ram_avail,
        "stack_bytes": board.stack_size if board.build_system != "platformio" else 0,
        "inputs": [{k: e[k] for k in _IO_KEYS} for e in inputs],
        "outputs": [{k: e[k] for k in _IO_KEYS} for e in outputs],
    }


def _write_docs(env, root: Path, manifest: dict, plan_png: str | None, ctx: dict) -> None:
    """The project's README and manifest (tinygen.json)."""
    (root / "README.md").write_text(env.get_template("README.md.j2").render(manifest=manifest, memory_plan_png=plan_png,
                                                                            **ctx), encoding="utf-8")
    (root / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")


def _write_tree(graph: Graph, board: Board, ident: str, root: Path, seed: int) -> dict:
    from tinygen.codegen.generator import generate
    from tinygen.boards.fit import available, check_fit

    pio = board.build_system == "platformio"
    fw = data_dir() / "firmware"
    model_dir, app_dir, proto_dir, runtime_dir = _tree_dirs(root, pio)
    # a model with state (LSTM, SVDF) is generated stateful: the state carries from run to run until the
    # host sends RESET_STATE (validate/monitor reset it before every sample unless --stateful)
    gen = generate(graph, model_dir, ident, target=board.core, stateful=has_state(graph))
    report = check_fit(graph, board, generated=gen)    # exact constants and arena (into the temp dir only)
    layers = layer_table(graph, gen.plan)
    inputs, outputs = _io_entries(graph)
    capture, save, capture_note = _capture_plan(board, report, gen, layers, inputs)
    ctx = _template_ctx(graph, board, ident, inputs, outputs, layers=layers, seed=seed, capture_bytes=capture,
                        save_bytes=save)
    env = _env()
    (app_dir / "tg_fw_config.h").write_text(env.get_template("tg_fw_config.h.j2").render(**ctx), encoding="utf-8")
    _copy(fw / "app", _APP_COMMON, app_dir)
    _copy(fw / "protocol", _PROTOCOL, proto_dir)

    firmware = _write_build_files(env, ctx, board, ident, root, fw, app_dir, runtime_dir, pio=pio,
                                  build_flags=["-DTG_ARDUINO=1", *MODEL_CFLAGS])
    _write_model_file(graph, root, ident)
    manifest = {
        **_manifest_head(graph, board, ident, firmware),
        **_manifest_sizes(board, gen, available(board), inputs, outputs),
        "layers": [{"op": lay["op"], "bytes": lay["bytes"], "kept": bool(lay["kept"])} for lay in layers],
        "layer_outputs": capture_note,
        "capture_bytes": capture,          # RAM for re-run layer capture, on top of the fit estimate
        "capture_input_bytes": save,
        "fit": report.as_dict(),
        "expected": expected_selftest(graph, seed),
    }
    plan_png = _write_plan_picture(graph, gen.plan, root)
    if plan_png:
        manifest["memory_plan_png"] = plan_png
    _write_docs(env, root, manifest, plan_png, ctx)
    return manifest


def _write_mlperf_tree(graph: Graph, board: Board, ident: str, root: Path, seed: int, spec, energy: bool) -> dict:
    """The MLPerf Tiny DUT firmware project (firmware/mlperf/tg_mlperf.c over the generated model)."""
    import dataclasses

    from tinygen.boards.fit import available, check_fit
    from tinygen.boards.mlperf import F32, MSE, U8
    from tinygen.codegen.generator import generate

    if energy:
        board = dataclasses.replace(board, serial=dataclasses.replace(board.serial, baud=ENERGY_BAUD))
    pio = board.build_system == "platformio"
    fw = data_dir() / "firmware"
    model_dir, app_dir, _proto_dir, runtime_dir = _tree_dirs(root, pio, protocol=False)
    gen = generate(graph, model_dir, ident, target=board.core)
    report = check_fit(graph, board, generated=gen)
    flash_avail, ram_avail = available(board)
    if report.ram_needed + spec.db_bytes > ram_avail:
        raise TinygenError(f"model {graph.name!r} as {spec.model_id} does not fit {board.id}: needs RAM "
                           f"{(report.ram_needed + spec.db_bytes) / 1024:.1f} KB (with the {spec.db_bytes}-byte "
                           f"db input buffer) of {ram_avail / 1024:.1f} KB")
    inputs, outputs = _io_entries(graph)
    for e in inputs + outputs:
        e["scale_c"] = _c_float(e["scale"])
    ctx = _template_ctx(graph, board, ident, inputs, outputs, layers=[], seed=seed, capture_bytes=0, save_bytes=0,
                        spec=spec, energy=energy,
                        input_kind_c={U8: "TG_ML_IN_U8", F32: "TG_ML_IN_F32"}.get(spec.input_kind, "TG_ML_IN_RAW"),
                        result_kind_c="TG_ML_RES_MSE" if spec.result_kind == MSE else "TG_ML_RES_OUTPUTS")
    env = _env()
    (app_dir / "tg_mlperf_config.h").write_text(env.get_template("tg_mlperf_config.h.j2").render(**ctx),
                                                encoding="utf-8")
    app = _mlperf_app_files(board, energy)
    _copy(fw / "mlperf", app, app_dir)
    _copy(fw / "app", ("tg_fw.h",), app_dir)
    if pio:
        # The Arduino port (tg_port_arduino.cpp) reads tg_fw_config.h and tg_app.h.
        (app_dir / "tg_fw_config.h").write_text(env.get_template("tg_fw_config.h.j2").render(**ctx), encoding="utf-8")
        _copy(fw / "protocol", ("tg_app.h",), app_dir)
    firmware = _write_build_files(env, ctx, board, ident, root, fw, app_dir, runtime_dir, pio=pio,
                                  build_flags=["-DTG_ARDUINO=1"] + (["-DTG_ML_ENERGY_MODE=1"] if energy else []),
                                  mlperf_app=tuple(app))
    _write_model_file(graph, root, ident)
    manifest = {
        **_manifest_head(graph, board, ident, firmware),
        "protocol": "mlperf",
        "mlperf": {"id": spec.model_id, "task": spec.task, "input": spec.input_kind, "result": spec.result_kind,
                   "db_bytes": spec.db_bytes, "energy_mode": energy, "baud": board.serial.baud,
                   "timestamp_pin": ENERGY_PINS[board.id][0] if energy else None},
        **_manifest_sizes(board, gen, (flash_avail, ram_avail), inputs, outputs),
        "layers": [],
        "layer_outputs": "none (MLPerf firmware)",
        "capture_bytes": 0,
        "capture_input_bytes": 0,
        "fit": report.as_dict(),
    }
    _write_docs(env, root, manifest, None, ctx)
    return manifest


def _mlperf_app_files(board: Board, energy: bool) -> list[str]:
    """The firmware/mlperf sources of the DUT app, with the board's timestamp pin in energy mode."""
    app = list(_MLPERF_APP)
    pin = ENERGY_PINS[board.id][1] if energy else None
    if pin:
        app.append(pin)
    return app


__all__ = ["ENERGY_PINS", "MANIFEST", "Project", "TEST_SEED", "expected_selftest", "layer_table", "lcg_bytes", "load_project",
           "selftest_inputs", "write_project"]
