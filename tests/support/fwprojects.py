"""Helpers for the firmware-project tests (test_project, test_flash, test_run_qemu)."""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

from tests.support.opmodels import ModelBuilder

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "kws_micro.tflite"
ARDUINO_STUB = Path(__file__).resolve().parent / "arduino_stub"

# The zoo (tests.support.zoo.MODEL_NAMES) plus the example model.
ZOO_NAMES = [
    "conv_s1_same_relu", "conv_s2_valid_relu6", "conv_dilated", "depthwise_m1", "depthwise_m2", "fully_connected",
    "avg_pool", "max_pool", "add_mul", "reshape_softmax", "mean", "concat", "pad", "logistic_tanh", "float_io",
    "ds_cnn_kws", "mobilenet_v1_025_vww", "resnet8_ic", "fc_autoencoder_ad",
]
ALL_MODELS = ["kws_micro"] + ZOO_NAMES

QEMU_BOARDS = ["qemu-stm32f4", "qemu-cortex-m4"]
# The other emulated cores: the small example model in the default run, the zoo with --run-slow.
OTHER_QEMU_BOARDS = ["qemu-cortex-m7", "qemu-cortex-m33", "qemu-cortex-m55"]
HAVE_RISCV = shutil.which("riscv64-unknown-elf-gcc") is not None and shutil.which("qemu-system-riscv32") is not None
# qemu-riscv32 as a pytest parameter, skipped without its toolchain (scripts/setup.sh installs it)
RISCV_BOARD = pytest.param("qemu-riscv32", marks=pytest.mark.skipif(
    not HAVE_RISCV, reason="needs riscv64-unknown-elf-gcc (+ picolibc) and qemu-system-riscv32"))
HAVE_ARM_GCC = shutil.which("arm-none-eabi-gcc") is not None
HAVE_QEMU = shutil.which("qemu-system-arm") is not None
HAVE_GCC = shutil.which("gcc") is not None and shutil.which("g++") is not None


def model_file(zoo, name: str) -> Path:
    return EXAMPLE if name == "kws_micro" else zoo[name]


def make(project_dir: Path, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(["make", "-j4", "-C", str(project_dir), *args], capture_output=True, text=True)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    return proc


def run(cmd, cwd=None) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=cwd)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))}\n{(proc.stdout + proc.stderr)[-3000:]}"
    return proc


def big_activation_model() -> bytes:
    """A 1x1 conv on [1, 96, 96, 16]: a 288 KB arena, 272 bytes of weights."""
    rng = np.random.default_rng(7)
    m = ModelBuilder()
    x = m.tensor([1, 96, 96, 16], scale=0.05, zero_point=-3, name="input")
    ws = rng.uniform(0.002, 0.01, 16)
    w = m.tensor([16, 1, 1, 16], data=rng.integers(-127, 128, (16, 1, 1, 16)), scale=ws, zero_point=0, axis=0)
    b = m.tensor([16], dtype=np.int32, data=rng.integers(-500, 500, 16), scale=0.05 * ws)
    y = m.tensor([1, 96, 96, 16], scale=0.1, zero_point=2, name="output")
    m.op("CONV_2D", [x, w, b], [y], padding="VALID", stride_w=1, stride_h=1, fused_activation_function="NONE",
         dilation_w_factor=1, dilation_h_factor=1)
    return m.build([x], [y], description="big activations")


def big_weights_model() -> bytes:
    """A fully-connected layer with 1.1 MB of int8 weights and a tiny arena."""
    rng = np.random.default_rng(8)
    m = ModelBuilder()
    x = m.tensor([1, 1024], scale=0.05, zero_point=0, name="input")
    w = m.tensor([1100, 1024], data=rng.integers(-127, 128, (1100, 1024)), scale=0.004, zero_point=0)
    b = m.tensor([1100], dtype=np.int32, data=np.zeros(1100), scale=0.05 * 0.004)
    y = m.tensor([1, 1100], scale=0.2, zero_point=0, name="output")
    m.op("FULLY_CONNECTED", [x, w, b], [y], fused_activation_function="NONE")
    return m.build([x], [y], description="big weights")


class ObjectCache:
    """Reuses object files between project builds, like ccache: an object is copied into a
    new project's build/obj when its source and every header its .d file lists have the
    same contents, for the same board, compiler flags and make arguments.
    The project's own Makefile still does the build; it just finds those objects up to date.
    """

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def _digest(path: Path) -> str:
        return hashlib.sha256(path.read_bytes()).hexdigest()

    @staticmethod
    def _deps(dfile: Path) -> list[str]:
        text = dfile.read_text().replace("\\\n", " ")
        first = text.split("\n", 1)[0]
        return first.split(":", 1)[1].split()

    def _key(self, board: str, rel: str, src_digest: str) -> Path:
        return self.root / board / rel.replace("/", "__") / src_digest

    def seed(self, project_dir: Path, board: str, build: str = "build") -> int:
        """Copy matching cached objects into project_dir/build/obj; returns how many."""
        n = 0
        for src in sorted(project_dir.rglob("*.c")):
            rel = src.relative_to(project_dir).as_posix()
            if rel.startswith(build + "/"):
                continue
            entry = self._key(board, rel, self._digest(src))
            if not entry.is_dir():
                continue
            for cand in sorted(entry.iterdir()):
                if cand.name.endswith(".tmp"):
                    continue
                meta = json.loads((cand / "deps.json").read_text())
                if all((project_dir / h).is_file() and self._digest(project_dir / h) == d for h, d in meta.items()):
                    obj = project_dir / build / "obj" / rel[:-2]
                    obj.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(cand / "obj.o", obj.with_suffix(".o"))
                    shutil.copyfile(cand / "obj.d", obj.with_suffix(".d"))
                    n += 1
                    break
        return n

    def store(self, project_dir: Path, board: str, build: str = "build") -> None:
        for dfile in sorted((project_dir / build / "obj").rglob("*.d")):
            deps = self._deps(dfile)
            rel = deps[0]
            meta = {h: self._digest(project_dir / h) for h in deps[1:]}
            entry = self._key(board, rel, self._digest(project_dir / rel))
            name = hashlib_short(json.dumps(meta, sort_keys=True))
            cand = entry / name
            if cand.exists():
                continue
            entry.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=name, suffix=".tmp", dir=entry))
            shutil.copyfile(dfile.with_suffix(".o"), tmp / "obj.o")
            shutil.copyfile(dfile, tmp / "obj.d")
            (tmp / "deps.json").write_text(json.dumps(meta))
            try:
                tmp.rename(cand)
            except OSError:
                shutil.rmtree(tmp, ignore_errors=True)

    def make(self, project_dir: Path, board: str, *args: str) -> subprocess.CompletedProcess:
        """`make` in project_dir with cached objects. The cache scope is the board, the
        Makefile's CFLAGS line and the make arguments (EXTRA_CFLAGS=..., BUILD=...)."""
        cflags = next(ln for ln in (project_dir / "Makefile").read_text().splitlines() if ln.startswith("CFLAGS"))
        scope = hashlib_short("\n".join([board, cflags, *args]))
        build = next((a.split("=", 1)[1] for a in args if a.startswith("BUILD=")), "build")
        self.seed(project_dir, scope, build)
        proc = make(project_dir, *args)
        self.store(project_dir, scope, build)
        return proc


def hashlib_short(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@pytest.fixture(scope="session")
def obj_cache(tmp_path_factory, request):
    """An ObjectCache shared by all test workers of the session (also without pytest-xdist)."""
    worker_id = getattr(request.config, "workerinput", {}).get("workerid", "master")
    base = tmp_path_factory.getbasetemp()
    root = (base.parent if worker_id != "master" else base) / "tinygen-objcache"
    return ObjectCache(root)
