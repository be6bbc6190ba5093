"""Child processes (QEMU, servers, flashers) that stop on every way out.

One mechanism for the whole tool:

    with stop_on_signals():                 # SIGTERM / SIGHUP raise Terminated (a KeyboardInterrupt)
        proc = subprocess.Popen(cmd, preexec_fn=child_setup)
        try:
            ...
        finally:
            stop_process(proc)               # terminate, then kill after a grace period

`tinygen.cli.main` runs every command inside `stop_on_signals()`, so a SIGTERM or SIGHUP unwinds
exactly like Ctrl-C: every `finally` / `with` that stops a child runs, and the CLI exits with
128 + the signal number. `child_setup` additionally asks the kernel to send the child SIGTERM
if tinygen itself dies without unwinding (SIGKILL), and disables core dumps (QEMU aborts on a
guest lockup).
"""
from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import threading

from tinygen.errors import Terminated

STOP_SIGNALS = tuple(s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s)


@contextlib.contextmanager
def stop_on_signals(signums=STOP_SIGNALS):
    """Within the block, the first of `signums` to arrive raises Terminated(signum) in the main
    thread; later ones are ignored while that unwinds (so cleanup is not interrupted). The
    previous handlers are restored on exit. Outside the main thread this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired = []

    def handler(signum, frame):
        if fired:
            return
        if _deferring:                 # spawn() is starting a child: raise when it holds it
            if signum not in _deferring[-1]:
                _deferring[-1].append(signum)
            return
        fired.append(signum)
        raise Terminated(signum)

    old = {}
    try:
        for s in signums:
            old[s] = signal.signal(s, handler)
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h if h is not None else signal.SIG_DFL)


def child_setup() -> None:
    """preexec_fn for long-lived children started from the main thread: SIGTERM to the child
    when the parent dies (Linux PR_SET_PDEATHSIG), no core files."""
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ImportError, ValueError, OSError):
        pass
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            PR_SET_PDEATHSIG = 1
            libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        except (OSError, AttributeError):
            pass


def stop_process(proc: subprocess.Popen | None, grace: float = 5.0) -> int | None:
    """Stop `proc` if it still runs: SIGTERM, then SIGKILL after `grace` seconds. Returns its
    exit status (None if there was no process). Safe to call twice; survives a signal
    arriving meanwhile (the wait is retried)."""
    if proc is None:
        return None
    for _ in range(3):
        try:
            if proc.poll() is None:
                proc.terminate()
                try:
                    return proc.wait(grace)
                except subprocess.TimeoutExpired:
                    proc.kill()
            return proc.wait()
        except KeyboardInterrupt:      # a second Ctrl-C while stopping: make sure it dies
            with contextlib.suppress(OSError):
                proc.kill()
    return proc.poll()


_deferring = []          # per active signals_deferred(): signals that came meanwhile


@contextlib.contextmanager
def signals_deferred():
    """Ctrl-C, SIGTERM and SIGHUP that arrive in the block are delivered (raised) when it ends,
    so that a child started in it is never lost between fork and the caller's hands. Main
    thread only (elsewhere signals do not interrupt anyway). SIGTERM/SIGHUP are deferred by
    stop_on_signals' handler (the CLI's); Ctrl-C by a handler installed for the block."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _deferring.append([])
    old_int = signal.getsignal(signal.SIGINT)

    def on_int(signum, frame):
        _deferring[-1].append(signum)

    signal.signal(signal.SIGINT, on_int)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old_int if old_int is not None else signal.default_int_handler)
        came = _deferring.pop()
        if came:
            if came[0] == signal.SIGINT:
                raise KeyboardInterrupt
            raise Terminated(came[0])


def spawn(cmd, **kw) -> subprocess.Popen:
    """subprocess.Popen that never leaves its child behind: a Ctrl-C / SIGTERM / SIGHUP that
    arrives while the child is being started (before the caller holds the Popen object) is
    deferred until Popen returns, and then stops the child before it propagates. No
    preexec_fn unless the caller gives one (Python between fork and exec can crash the child
    when other threads run)."""
    proc = None
    try:
        with signals_deferred():
            proc = subprocess.Popen(cmd, **kw)
    except BaseException:
        stop_process(proc, grace=1.0)
        raise
    return proc


__all__ = ["STOP_SIGNALS", "Terminated", "child_setup", "signals_deferred", "spawn", "stop_on_signals",
           "stop_process"]
