"""Read and check the self-test report generated firmware prints on boot: the banner line and the
self-test line, compared with the emulator's expected output stored in the project manifest.

    res = selftest_qemu(project)                 # emulated boards: start QEMU, read, stop
    res = selftest_serial(project, "/dev/ttyACM0")   # real boards: RESET over the protocol, read
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Callable

from tinygen.boards.project import Project
from tinygen.device.link import encode_frame
from tinygen.device.protocol import CMD_RESET
from tinygen.errors import DeviceError, TinygenError

Progress = Callable[[str], None]


def _quiet(msg: str) -> None:
    pass


@dataclass
class SelftestResult:
    board: str
    banner: dict
    selftest: dict
    expected: dict
    mismatches: list = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def as_dict(self) -> dict:
        return {"board": self.board, "ok": self.ok, "banner": self.banner, "selftest": self.selftest,
                "expected": self.expected, "mismatches": self.mismatches, "seconds": round(self.seconds, 3)}


def compare_selftest(selftest: dict, expected: dict) -> list[str]:
    """Differences between the board's self-test report and the emulator's expectation."""
    problems = []
    if selftest.get("status") != 0:
        return [f"the model returned status {selftest.get('status')} on the board"]
    if selftest.get("seed") != expected["seed"]:
        problems.append(f"seed {selftest.get('seed')} != {expected['seed']}")
    if selftest.get("inputs") != expected["inputs"]:
        problems.append(f"test vector differs: board {selftest.get('inputs')} vs host {expected['inputs']}")
    outs = selftest.get("outputs", [])
    if len(outs) != len(expected["outputs"]):
        return problems + [f"{len(outs)} outputs reported, {len(expected['outputs'])} expected"]
    for k, (got, exp) in enumerate(zip(outs, expected["outputs"])):
        if "values" in exp and not got.get("truncated"):
            gv, ev = got.get("values", []), exp["values"]
            if gv != ev:
                diff = [i for i, (a, b) in enumerate(zip(gv, ev)) if a != b]
                first = diff[0] if diff else min(len(gv), len(ev))
                problems.append(f"output {k}: {len(diff) or 'length'} value(s) differ, first at [{first}]: "
                                f"board {gv[first] if first < len(gv) else None}, emulator "
                                f"{ev[first] if first < len(ev) else None}")
                continue
        if got.get("crc32") != exp["crc32"] or got.get("bytes") != exp["bytes"]:
            problems.append(f"output {k}: crc32 {got.get('crc32')} ({got.get('bytes')} bytes) != "
                            f"emulator {exp['crc32']} ({exp['bytes']} bytes)")
    return problems


def _parse_line(raw: bytes, what: str) -> dict:
    try:
        return json.loads(raw.decode("utf-8", "replace"))
    except ValueError:
        raise DeviceError(f"garbled {what} line from the board: {raw[:120]!r}") from None


def selftest_qemu(project: Project, *, timeout: float = 60.0, progress: Progress = _quiet) -> SelftestResult:
    """Start QEMU, read the banner and the self-test line, stop QEMU."""
    from tinygen.boards.qemu import QemuSession, read_line

    t0 = time.monotonic()
    board = project.board
    if not project.firmware.is_file():
        raise TinygenError(f"{project.firmware} not found: build it first (tinygen build {project.path})")
    progress(f"running {project.name} in QEMU ({board.emulator.machine})")
    with QemuSession(board, project.firmware) as q:
        banner = _parse_line(read_line(q.serial, 10.0), "banner")
        selftest = _parse_line(read_line(q.serial, timeout), "self-test").get("selftest", {})
    res = SelftestResult(board.id, banner, selftest, project.manifest["expected"], seconds=time.monotonic() - t0)
    res.mismatches = compare_selftest(selftest, res.expected) + _banner_problems(banner, project)
    return res


def _banner_problems(banner: dict, project: Project) -> list[str]:
    m = project.manifest
    problems = []
    if banner.get("model") != m["model"]:
        problems.append(f"banner model {banner.get('model')!r} != {m['model']!r}")
    if banner.get("sha256") != m["model_sha256"][:16]:
        problems.append(f"banner sha256 {banner.get('sha256')} != {m['model_sha256'][:16]}")
    if banner.get("board") != m["board"]:
        problems.append(f"banner board {banner.get('board')!r} != {m['board']!r}")
    return problems


def selftest_serial(project: Project, device: str, *, timeout: float = 30.0, baud: int | None = None,
                    progress: Progress = _quiet) -> SelftestResult:
    """Real boards: open the serial port, ask the firmware to reset (protocol RESET), and
    read the banner and self-test lines it prints on boot. Copes with USB CDC ports that
    vanish while the board resets."""
    import serial


    board = project.board
    t0 = time.monotonic()
    deadline = t0 + timeout
    usb_cdc = board.serial.interface == "usb-cdc"
    banner = selftest = None
    sent_reset = False
    buf = bytearray()
    progress(f"reading the self-test from {device}")
    while selftest is None:
        if time.monotonic() > deadline:
            raise DeviceError(f"no self-test report from {board.name} on {device} within {timeout:g} s "
                              f"(got {bytes(buf[-120:])!r})")
        try:
            ser = serial.serial_for_url(device, do_not_open=True)     # a path, or rfc2217:// (--place)
            ser.baudrate, ser.timeout = baud or board.serial.baud, 0.1
            ser.dtr = usb_cdc          # ESP32 auto-reset circuit: keep EN/IO0 alone
            ser.rts = False
            ser.open()
        except (serial.SerialException, OSError, ValueError):
            time.sleep(0.2)            # USB CDC port re-enumerating after the reset
            continue
        try:
            if not sent_reset:
                ser.write(encode_frame(0x7467, CMD_RESET))
                sent_reset = True
            while selftest is None and time.monotonic() < deadline:
                buf += ser.read(256)
                while b"\n" in buf:
                    line, _, rest = bytes(buf).partition(b"\n")
                    buf = bytearray(rest)
                    start = max(line.rfind(b'{"tinygen"'), line.rfind(b'{"selftest"'))
                    if start < 0:
                        continue
                    obj = _parse_line(line[start:], "serial")
                    if "tinygen" in obj:
                        banner = obj
                    elif "selftest" in obj and banner is not None:
                        selftest = obj["selftest"]
        except (serial.SerialException, OSError):
            pass                       # the port vanished (USB reset): reopen
        finally:
            try:
                ser.close()
            except Exception:
                pass
    res = SelftestResult(board.id, banner, selftest, project.manifest["expected"], seconds=time.monotonic() - t0)
    res.mismatches = compare_selftest(selftest, res.expected) + _banner_problems(banner, project)
    return res
