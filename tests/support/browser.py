"""Load a local HTML file in headless Chromium (Debian's `chromium`) and report what it did.

    from tests.support.browser import chromium, load_page
    page = load_page(Path("report.html"))
    page.requests        # every URL the page requested (the page's own file:// URL included)
    page.errors          # console errors, uncaught exceptions, error log entries
    page.screenshot      # PNG bytes of the whole page

Talks the Chrome DevTools Protocol over the pipe Chromium opens with
`--remote-debugging-pipe` (commands on fd 3, replies and events on fd 4, one JSON message
per NUL-terminated chunk), so it needs no websocket library. Only the page's own target is
watched: the browser's background traffic (component updates and the like) is not the
page's and is not counted.
"""
from __future__ import annotations

import base64
import json
import fcntl
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class Page:
    url: str
    requests: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    console: list = field(default_factory=list)
    screenshot: bytes = b""
    title: str = ""


class _Cdp:
    def __init__(self, proc, wfd: int, rfd: int):
        self.proc = proc
        self.wfd = wfd
        self.rfd = rfd
        self.buf = b""
        self.next_id = 0
        self.events: list = []

    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no message from Chromium")
            r, _, _ = select.select([self.rfd], [], [], left)
            if r:
                chunk = os.read(self.rfd, 1 << 16)
                if not chunk:
                    raise RuntimeError("Chromium closed its DevTools pipe")
                self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 30.0):
        self.next_id += 1
        mid = self.next_id
        msg = {"id": mid, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.wfd, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            m = self._read_message(deadline)
            if m.get("id") == mid:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)

    def wait_event(self, method: str, session: str, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        for m in self.events:
            if m.get("method") == method and m.get("sessionId") == session:
                return m
        while True:
            m = self._read_message(deadline)
            self.events.append(m)
            if m.get("method") == method and m.get("sessionId") == session:
                return m

    def drain(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while True:
            try:
                self.events.append(self._read_message(deadline))
            except TimeoutError:
                return


class _ChromiumGone(RuntimeError):
    """Chromium exited before it answered its first DevTools call (seen once on a loaded machine)."""


def load_page(path: Path, *, width: int = 1200, height: int = 900, settle: float = 0.5,
              timeout: float = 60.0) -> Page:
    """Opens `path` in headless Chromium; returns what the page requested and logged, and a
    screenshot of the whole page. Chromium is always stopped. A Chromium that dies on start-up is
    started once more; any later failure is the page's."""
    try:
        return _load_page_once(path, width, height, settle, timeout)
    except _ChromiumGone:
        return _load_page_once(path, width, height, settle, timeout)


def _load_page_once(path: Path, width: int, height: int, settle: float, timeout: float) -> Page:
    exe = chromium()
    if exe is None:
        raise FileNotFoundError("chromium not found (apt-get install chromium)")
    url = Path(path).resolve().as_uri()
    profile = tempfile.mkdtemp(prefix="tinygen-chromium-")
    to_child_r, to_child_w = os.pipe()
    from_child_r, from_child_w = os.pipe()
    # Chromium's --remote-debugging-pipe reads fd 3 and writes fd 4. The child's ends are moved to fds >= 10
    # (no clash with 3 / 4) and bash (dash takes single-digit fds only) puts them in place before exec: no
    # preexec_fn, which is unsafe in a process with threads (TensorFlow's).
    child_r = fcntl.fcntl(to_child_r, fcntl.F_DUPFD, 10)
    child_w = fcntl.fcntl(from_child_w, fcntl.F_DUPFD, 10)
    os.close(to_child_r)
    os.close(from_child_w)
    args = ["/bin/bash", "-c", f'exec "$0" "$@" 3<&{child_r} 4>&{child_w} {child_r}<&- {child_w}>&-',
            exe, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe", "--no-first-run",
            "--hide-scrollbars", f"--user-data-dir={profile}", "--disable-extensions",
            "--disable-background-networking", "about:blank"]
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            pass_fds=(child_r, child_w))
    os.close(child_r)
    os.close(child_w)
    page = Page(url=url)
    try:
        cdp = _Cdp(proc, to_child_w, from_child_r)
        try:
            target = cdp.call("Target.createTarget", {"url": "about:blank"}, timeout=timeout)["targetId"]
        except (BrokenPipeError, RuntimeError) as e:
            if not isinstance(e, BrokenPipeError) and proc.poll() is None:
                raise       # an answer with an error: not a start-up failure
            proc.kill()
            raise _ChromiumGone("Chromium closed its DevTools pipe on start-up") from e
        session = cdp.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Network", "Runtime", "Log"):
            cdp.call(f"{domain}.enable", session=session)
        cdp.call("Emulation.setDeviceMetricsOverride",
                 {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session=session)
        cdp.events = [e for e in cdp.events if e.get("sessionId") != session]   # about:blank's own
        cdp.call("Page.navigate", {"url": url}, session=session)
        cdp.wait_event("Page.loadEventFired", session, timeout)
        cdp.drain(settle)
        layout = cdp.call("Page.getLayoutMetrics", session=session)
        size = layout.get("cssContentSize") or layout.get("contentSize")
        shot = cdp.call("Page.captureScreenshot",
                        {"format": "png", "captureBeyondViewport": True,
                         "clip": {"x": 0, "y": 0, "width": width, "height": min(int(size["height"]), 16000),
                                  "scale": 1}}, session=session, timeout=timeout)
        page.screenshot = base64.b64decode(shot["data"])
        page.title = cdp.call("Runtime.evaluate", {"expression": "document.title", "returnByValue": True},
                              session=session)["result"].get("value", "")
        for e in cdp.events:
            if e.get("sessionId") != session:
                continue
            m, p = e.get("method"), e.get("params", {})
            if m == "Network.requestWillBeSent":
                page.requests.append(p["request"]["url"])
            elif m == "Runtime.consoleAPICalled":
                text = " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
                page.console.append((p.get("type"), text))
                if p.get("type") in ("error", "assert"):
                    page.errors.append(f"console.{p.get('type')}: {text}")
            elif m == "Runtime.exceptionThrown":
                d = p.get("exceptionDetails", {})
                page.errors.append(f"exception: {d.get('exception', {}).get('description') or d.get('text')}")
            elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                entry = p["entry"]
                page.errors.append(f"log: {entry.get('text')} {entry.get('url', '')}".strip())
        try:
            cdp.call("Browser.close", timeout=5)
        except Exception:
            pass
    finally:
        os.close(to_child_w)
        os.close(from_child_r)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(profile, ignore_errors=True)
    return page
