"""Raising the link speed after the handshake (SET_BAUD, tinygen/device/speed.py) on a QEMU
board behind the fault proxy: the switch and its probe, the device refusing a rate its UART
cannot run at, a failed probe falling back to the default rate on both sides, and a device
reset after a raise (it boots at its default rate again). QEMU's UART ignores the rate, so
these check the exchange, not a speed gain (that needs a real board)."""
from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from tinygen.boards.catalog import load_board
from tinygen.device.link import encode_frame
from tinygen.device.protocol import CMD_INFER_RUN, CMD_RESET, CMD_SET_BAUD, Client

from .support.faultproxy import FaultProxy, Faults, QemuVM

ROOT = Path(__file__).resolve().parents[1]
KWS = ROOT / "examples" / "kws_micro.tflite"
BOARD = "qemu-cortex-m4"
HAVE_QEMU = bool(shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm"))
pytestmark = [pytest.mark.qemu,
              pytest.mark.skipif(not HAVE_QEMU, reason="needs arm-none-eabi-gcc and qemu-system-arm")]


@pytest.fixture(scope="module")
def kws_elf():
    from tinygen.device.target import ensure_emulated_firmware
    from tinygen.model.reader import load_int8_model

    g = load_int8_model(KWS)
    return g, ensure_emulated_firmware(g, BOARD)


def _validate(kws_elf, rate, setup=None, samples=4):
    from tinygen.device.target import Link
    from tinygen.device.validate import validate_link

    g, elf = kws_elf
    with QemuVM(BOARD, elf) as vm, FaultProxy(vm.address, seed=3) as proxy:
        if setup:
            setup(proxy)
        with Link(proxy.url) as link:
            report = validate_link(link, str(KWS), g, board=BOARD, samples=samples, link_baud=rate,
                                   sync_timeout=10.0, timeout=0.5)
            final = link.serial.baudrate
    return report, final


def test_raise_switches_and_probes(kws_elf):
    report, final = _validate(kws_elf, 921600)
    st = report.client_stats
    assert report.error is None and report.passed, report.error
    assert st["baud"] == 921600 and "raised from 115200" in st["baud_note"] and final == 921600
    from tinygen.device.validate import format_report

    assert "link speed      921600 baud (raised from 115200)" in format_report(report)


def test_rate_the_uart_cannot_run_at_is_refused(kws_elf):
    # the CMSDK UART needs BAUDDIV >= 16: at most 25 MHz / 16 = 1.5625 Mbaud
    report, final = _validate(kws_elf, 3_000_000)
    assert report.passed and final == 115200
    assert report.client_stats["baud"] == 115200 and "cannot switch" in report.client_stats["baud_note"]


def test_failed_probe_falls_back_on_both_sides(kws_elf):
    """Everything the host sends right after the switch is lost for 1.2 s: the probe fails,
    the host goes back to 115200, the device too (no good frame at the new rate), and the
    run continues at the old rate."""
    def setup(proxy):
        def cut():
            proxy.faults(up=Faults(blackhole=True))
            threading.Timer(1.2, lambda: proxy.faults(up=Faults())).start()
        proxy.on_frame_up(CMD_SET_BAUD, 1, cut)

    report, final = _validate(kws_elf, 921600, setup)
    assert report.error is None and report.passed, report.error
    assert final == 115200 and "fell back" in report.client_stats["baud_note"]


def test_reset_after_a_raise_resyncs_at_the_default_rate(kws_elf):
    """A RESET slipped to the device after the 2nd inference: it boots at 115200 again; the
    host resyncs there, raises again and finishes."""
    def setup(proxy):
        proxy.on_frame_up(CMD_INFER_RUN, 2, lambda: proxy.inject_up(encode_frame(0x4250, CMD_RESET)))

    report, final = _validate(kws_elf, 921600, setup, samples=5)
    assert report.error is None and report.passed, report.error
    assert final == 921600 and report.samples == 5


def test_board_data():
    assert load_board("nucleo-f446re").serial.max_baud == 921600
    assert load_board("nano33ble").serial.max_baud is None        # USB CDC: the rate does not matter
    assert load_board(BOARD).serial.max_baud is None              # QEMU: no raise unless asked


def test_link_baud_option_is_checked():
    from click.testing import CliRunner

    from tinygen.cli import cli

    r = CliRunner().invoke(cli, ["validate", str(KWS), "--board", BOARD, "--link-baud", "fast"])
    assert r.exit_code == 2 and "give auto, off or a baud rate" in r.output
    r = CliRunner().invoke(cli, ["monitor", "--board", BOARD, "--link-baud", "-5"])
    assert r.exit_code == 2 and "baud rate > 0" in r.output
