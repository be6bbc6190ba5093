"""The README's code must work as written."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_readme_starts_with_the_two_commands():
    block = re.search(r"```sh\n(.*?)```", README, re.S).group(1)
    commands = [line for line in block.splitlines() if line and not line.startswith("#")]
    assert commands == ["bash scripts/setup.sh && bash scripts/main-job.sh", "bash scripts/setup.sh && .venv/bin/pytest -n 2"]
    assert "bash scripts/setup.sh && .venv/bin/pytest -n 2" in (ROOT / ".ci" / "run").read_text()
    assert README.index(block) < 400  # at the very top


def test_readme_pytest_example_passes(tmp_path):
    code = re.search(r"```python\n(# test_kws_micro\.py.*?)```", README, re.S).group(1)
    test_file = tmp_path / "test_kws_micro.py"
    test_file.write_text(code)
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
                        str(test_file)], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "3 passed" in r.stdout
