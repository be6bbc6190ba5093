"""`tinygen generate --target`: the generated C builds for each CPU class with the flags tinygen suggests."""
from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from tinygen.cli import main

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "kws_micro.tflite"
STRICT = ["-Wall", "-Wextra", "-Werror"]


@pytest.mark.parametrize("target", ["host", "cortex-m0", "cortex-m4", "cortex-m7", "cortex-m33"])
def test_generated_c_compiles_for_target(tmp_path, capsys, target):
    out = tmp_path / target
    assert main(["generate", str(EXAMPLE), "-o", str(out), "--target", target, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["target"] == target
    header = next(out.glob("*_model.h")).read_text()
    assert f'_TARGET "{target}"' in header
    cmd = shlex.split(info["cflags"])
    if cmd[0] == "cc":
        cmd[0] = "gcc"
    if shutil.which(cmd[0]) is None:
        pytest.fail(f"{cmd[0]} missing: scripts/setup.sh installs it")
    for c in sorted(out.glob("*.c")):
        r = subprocess.run(cmd + STRICT + ["-I", str(out), "-c", str(c), "-o", str(tmp_path / (c.stem + ".o"))],
                           capture_output=True, text=True)
        assert r.returncode == 0, f"{' '.join(cmd)} {c.name}:\n{r.stderr}"
    if target.startswith("cortex-m"):
        dis = subprocess.run(["arm-none-eabi-objdump", "-d"] + [str(p) for p in tmp_path.glob("*.o")],
                             capture_output=True, text=True).stdout
        # M0 has no DSP extension: portable path only; M4/M7/M33 get the SMLAD kernels
        assert ("smlad" in dis) == (target != "cortex-m0")
