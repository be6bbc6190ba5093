#!/usr/bin/env bash
# Set up tinygen on Debian 12 (as root): Debian packages, then a virtual
# environment in .venv with tinygen and its extras at the pinned versions.
# Idempotent: a second run skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

# chromium: tests/test_report.py renders `tinygen report` pages in headless Chromium.
# gcc-riscv64-unknown-elf + picolibc + qemu-system-misc: the qemu-riscv32 board (RV32IMAC, QEMU virt).
APT_PKGS="gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm clang chromium ser2net
gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf qemu-system-misc"
missing=""
for p in $APT_PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "setup: installing Debian packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq $missing >/dev/null
    case " $missing " in *" ser2net "*)
        # labgrid's exporter starts its own ser2net per exported port: the system service is not needed
        systemctl disable --now ser2net >/dev/null 2>&1 || true;;
    esac
else
    echo "setup: Debian packages present"
fi

PY=${PYTHON:-python3}
stamp=.venv/.tinygen-installed
want=$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "setup: .venv up to date"
else
    echo "setup: installing tinygen[tf,pio,test,report,farm] into .venv (pinned by constraints.txt)"
    [ -x .venv/bin/python ] || "$PY" -m venv .venv
    .venv/bin/pip install -q --disable-pip-version-check -c constraints.txt -e ".[tf,pio,test,report,farm]" 2>&1 \
        | grep -v "is ignored: it is neither a file nor a directory" || true
    .venv/bin/python -c "import tinygen, tensorflow, tflite_micro, matplotlib, labgrid" 2>/dev/null \
        || { echo "setup: installation failed" >&2; exit 1; }
    echo "$want" > "$stamp"
fi
