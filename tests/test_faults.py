"""validate over a damaged link: a TCP proxy (tests/support/faultproxy.py) between tinygen
and QEMU drops, duplicates and corrupts bytes, injects garbage, resets or power-cycles the
board, blackholes the link or makes the port vanish. Either the run finishes with
bit-exact results (the protocol's retries and the resume-after-reset logic did their job)
or it stops cleanly with one line in `error` and the samples done so far."""
from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tinygen.device.link import encode_frame
from tinygen.device.protocol import CMD_INFER_CHUNK, CMD_RESET
from tinygen.model.reader import load_int8_model
from tinygen.device.target import Link, ensure_emulated_firmware
from tinygen.device.validate import validate_link

from .support.faultproxy import FaultProxy, Faults, QemuVM

ROOT = Path(__file__).resolve().parents[1]
KWS = ROOT / "examples" / "kws_micro.tflite"
BOARD = "qemu-cortex-m4"

pytestmark = [
    pytest.mark.qemu,
    pytest.mark.skipif(not (shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm")),
                       reason="needs arm-none-eabi-gcc and qemu-system-arm"),
]


@pytest.fixture(scope="module")
def kws():
    return load_int8_model(KWS)


@pytest.fixture(scope="module")
def elf(kws):
    return ensure_emulated_firmware(kws, BOARD)


@pytest.fixture
def vm(elf):
    with QemuVM(BOARD, elf) as v:
        yield v


@pytest.fixture
def proxy(vm):
    with FaultProxy(vm.address, seed=1234) as p:
        yield p


def run(proxy, kws, samples=10, **kw):
    kw.setdefault("timeout", 0.5)
    kw.setdefault("sync_timeout", 10.0)
    with Link(proxy.url) as link:
        return validate_link(link, str(KWS), kws, board=BOARD, samples=samples, **kw)


def assert_exact(report, samples):
    d = report.as_dict()
    assert report.error is None, report.error
    assert d["samples"] == samples and d["bit_exact"] == 1.0 and report.passed


def assert_partial(report, samples):
    """Stopped early, cleanly: an error line, fewer samples, and those all bit-exact."""
    d = report.as_dict()
    assert report.error and "\n" not in report.error
    assert not report.passed
    assert 0 < d["samples"] < samples
    assert d["bit_exact"] == 1.0 and d["latency_cycles"]["min"] > 0
    assert len(report.outputs) == d["samples"]


def test_clean_proxy_is_transparent(proxy, kws):
    r = run(proxy, kws, samples=5)
    assert_exact(r, 5)
    assert r.client_stats["resent"] == 0 and not r.recoveries


def test_dropped_duplicated_corrupted_bytes_and_garbage(proxy, kws):
    proxy.faults(up=Faults(drop_every=1500, dup_every=1500, corrupt_every=1500),
                 down=Faults(drop_every=600, dup_every=600, corrupt_every=600, garbage_every=600, min_gap=260))
    r = run(proxy, kws, samples=12)
    assert_exact(r, 12)
    counts = proxy.fault_counts()
    assert sum(counts["up"].values()) >= 3 and sum(counts["down"].values()) >= 5, counts
    assert r.client_stats["resent"] >= 3
    assert r.client_stats["garbage_bytes"] > 0


def test_protocol_reset_mid_run_resumes(proxy, kws):
    # a RESET frame slipped to the device while sample ~4 is being uploaded
    proxy.on_bytes("up", 4 * 520, lambda: proxy.inject_up(encode_frame(0x4242, CMD_RESET)))
    r = run(proxy, kws, samples=8)
    assert_exact(r, 8)
    assert len(r.recoveries) == 1 and "reset" in r.recoveries[0]


def test_power_cycle_mid_run_resumes(proxy, vm, kws):
    """QEMU is killed and a new one started behind the same proxy port (the BOOT frame of
    the new VM tells tinygen)."""
    def power_cycle():
        proxy.drop_upstream()
        vm.restart()
        proxy.set_upstream(vm.address)

    proxy.on_bytes("up", 3 * 520, power_cycle)
    r = run(proxy, kws, samples=8)
    assert_exact(r, 8)
    assert vm.starts == 2
    assert len(r.recoveries) == 1 and "reset" in r.recoveries[0]


def test_lost_boot_frame_reset_is_found_from_the_state_break(proxy, kws):
    """The device resets and its banner and BOOT frame are lost: INFER_CHUNK/RUN get
    BAD_STATE, which the client reports as a reset; validate resumes."""
    def reset_silently():
        proxy.faults(down=Faults(blackhole=True))
        proxy.inject_up(encode_frame(0x4243, CMD_RESET))
        time.sleep(0.3)                      # banner, self-test line and BOOT go nowhere
        proxy.faults(down=Faults())

    proxy.on_frame_up(CMD_INFER_CHUNK, 3, reset_silently)     # sample 2's input is complete
    r = run(proxy, kws, samples=6)
    assert_exact(r, 6)
    assert len(r.recoveries) == 1


def test_too_many_resets_stop_cleanly_with_partial_results(proxy, kws):
    for k in range(1, 6):
        proxy.on_bytes("up", k * 2 * 600, lambda: proxy.inject_up(encode_frame(0x4244, CMD_RESET)))
    r = run(proxy, kws, samples=12, max_recoveries=2)
    assert_partial(r, 12)
    assert "giving up after 2 recoveries" in r.error
    print(r.error)
    assert len(r.recoveries) == 2


def test_silent_link_times_out_with_partial_results(proxy, kws):
    proxy.on_bytes("up", 3 * 520, lambda: proxy.faults(down=Faults(blackhole=True)))
    t0 = time.monotonic()
    r = run(proxy, kws, samples=10, timeout=0.3, retries=2)
    assert time.monotonic() - t0 < 20
    assert_partial(r, 10)
    assert "no reply" in r.error or "did not answer" in r.error
    print(r.error)


def test_garbage_only_link_is_diagnosed(proxy, kws):
    proxy.on_bytes("up", 3 * 520, lambda: proxy.faults(down=Faults(garbage_only=True)))
    r = run(proxy, kws, samples=10, timeout=0.3, retries=2)
    assert_partial(r, 10)
    assert "garbage" in r.error or "no reply" in r.error
    print(r.error)


def test_port_that_comes_back_is_reopened(proxy, kws):
    proxy.on_bytes("up", 3 * 520, lambda: proxy.disconnect_client())
    r = run(proxy, kws, samples=8)
    assert_exact(r, 8)
    assert len(r.recoveries) == 1 and "serial port lost" in r.recoveries[0]


def test_port_that_disappears_ends_the_run_cleanly(proxy, kws, tmp_path):
    """Through the CLI: one error line, exit 2, the JSON report keeps the partial results."""
    from tinygen.cli import main

    proxy.on_bytes("up", 3 * 520, lambda: proxy.disconnect_client(stop_listening=True))
    out = tmp_path / "out.npy"
    import contextlib
    import io

    buf, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(err):
        rc = main(["validate", str(KWS), "--board", BOARD, "--port", proxy.url, "--samples", "10",
                   "--timeout", "0.5", "--reconnect", "1", "--json", "-q", "--save-outputs", str(out)])
    assert rc == 2
    d = json.loads(buf.getvalue())
    assert d["error"] and "did not come back within 1 s" in d["error"]
    assert 0 < d["samples"] < 10 and d["bit_exact"] == 1.0 and d["passed"] is False
    lines = [ln for ln in err.getvalue().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("tinygen: error:")
    print(lines[0])
    saved = np.load(out)
    assert saved.shape == (d["samples"], 4)


@pytest.mark.slow
def test_soak_noisy_link(proxy, kws):
    """Many samples on a link with frequent faults of every kind, and resets."""
    # up: faults at least two INFER_CHUNK frames apart, so that a resend always has a clean window
    proxy.faults(up=Faults(drop_every=1500, dup_every=1500, corrupt_every=1500, min_gap=1100),
                 down=Faults(drop_every=300, dup_every=300, corrupt_every=300, garbage_every=300, min_gap=260))
    for k in (30, 70):
        proxy.on_bytes("up", k * 600, lambda: proxy.inject_up(encode_frame(0x4245, CMD_RESET)))
    r = run(proxy, kws, samples=100)
    assert_exact(r, 100)


def test_validate_never_hangs_on_a_dead_vm(proxy, vm, kws):
    """The VM dies for good mid-run: bounded time, partial results."""
    done = threading.Event()

    def kill():
        proxy.drop_upstream()
        vm.kill()
        done.set()

    proxy.on_bytes("up", 3 * 520, kill)
    t0 = time.monotonic()
    r = run(proxy, kws, samples=10, timeout=0.3, retries=1)
    assert done.is_set() and time.monotonic() - t0 < 15
    assert_partial(r, 10)
    print(r.error)
