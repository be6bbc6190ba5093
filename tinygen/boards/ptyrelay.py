"""An emulated board's serial port on a pseudo-terminal (`tinygen flash DIR --pty`).

QEMU serves the firmware's UART as a TCP server that starts the CPU when the first client
connects (`wait=on`). PtyRelay makes a pseudo-terminal (raw mode), and, when a program first
opens its slave side (`/dev/pts/N`), connects to QEMU and copies bytes both ways. QEMU's own
`-serial pty` would start the CPU at once and drop the firmware's first output; here nothing is
lost before the first open. While no program has the terminal open, what the board sends is
dropped (a real UART's bytes go nowhere too), and the terminal's queues are flushed when a
program closes it, so the next one does not read stale replies.

    with PtyRelay(("127.0.0.1", port), qemu_process) as relay:
        print(relay.path)
        relay.run()           # until QEMU closes the serial port (firmware exit) or exits

Linux/POSIX only. A slave with no program attached makes the master report POLLHUP; that is
how opens and closes are seen (polled every 10 ms while nobody is attached).
"""
from __future__ import annotations

import errno
import os
import select
import socket
import sys
import termios
import tty

POLL_IDLE_S = 0.01
MAX_PENDING = 1 << 16


class PtyRelay:
    def __init__(self, address: tuple[str, int], process=None, log=None, *, start_now: bool = False):
        """`start_now`: connect to QEMU (start the CPU) at once instead of at the first open, so the
        board runs like one powered up before anybody listened: its boot output is dropped."""
        self.address = address
        self.start_now = start_now
        self.process = process          # QEMU: its stdout (semihosting console, errors) goes to `log`
        self.log = log if log is not None else sys.stderr
        self.master = -1
        self.path = ""
        self.sock: socket.socket | None = None
        self.attached = False
        self.opens = 0                  # how many times a program opened the terminal
        self.to_board = 0               # bytes relayed each way
        self.to_host = 0
        self._pending = bytearray()     # board -> terminal bytes not yet written (run())
        self._qemu_out = None           # QEMU's stdout while run() copies it to the log

    def __enter__(self) -> "PtyRelay":
        master, slave = os.openpty()
        try:
            tty.setraw(slave)           # no echo, no line editing, no CR/LF translation
            attrs = termios.tcgetattr(slave)
            attrs[4] = attrs[5] = termios.B115200
            termios.tcsetattr(slave, termios.TCSANOW, attrs)
            self.path = os.ttyname(slave)
        finally:
            os.close(slave)             # from now on POLLHUP on the master = nobody attached
        os.set_blocking(master, False)
        self.master = master
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None
        if self.master >= 0:
            os.close(self.master)
            self.master = -1

    # ------------------------------------------------------------------ state
    def _slave_open(self) -> bool:
        p = select.poll()
        p.register(self.master, select.POLLIN)
        return not any(ev & select.POLLHUP for _, ev in p.poll(0))

    def _detach(self) -> None:
        self.attached = False
        try:
            termios.tcflush(self.master, termios.TCIOFLUSH)
        except termios.error:
            pass

    def _connect(self) -> None:
        self.sock = socket.create_connection(self.address, timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)

    def prepare(self, quiet: float = 0.3, limit: float = 5.0) -> None:
        """With `start_now`: start the board and drop what it prints until it has been quiet for
        `quiet` seconds (at most `limit`), before anybody is told the terminal's path."""
        import time

        if not self.start_now or self.sock is not None:
            return
        self._connect()
        end = time.monotonic() + limit
        last = time.monotonic()
        while time.monotonic() < end and time.monotonic() - last < quiet:
            r, _, _ = select.select([self.sock], [], [], 0.05)
            if r:
                try:
                    data = self.sock.recv(4096)
                except (BlockingIOError, InterruptedError):
                    continue
                if not data:
                    return               # the firmware exited already; run() sees it
                last = time.monotonic()

    # ------------------------------------------------------------------ loop
    def run(self) -> None:
        """Relay until QEMU closes the serial connection or exits."""
        self._qemu_out = self.process.stdout if self.process is not None and self.process.stdout else None
        self._pending = bytearray()      # board -> terminal bytes not yet written
        if self.start_now and self.sock is None:
            self.prepare()
        while True:
            self._attach_if_opened()
            if self._qemu_gone():
                return
            rlist, wlist = self._wait_lists()
            r, w, _ = select.select(rlist, wlist, [], None if self.attached else POLL_IDLE_S)
            if not self._relay(r, w):
                return

    def _qemu_gone(self) -> bool:
        """QEMU exited with no serial connection and no output left to read."""
        return (self.sock is None and self._qemu_out is None and self.process is not None
                and self.process.poll() is not None)

    def _relay(self, r: list, w: list) -> bool:
        """Moves the bytes of one select() round (`r` readable, `w` writable); False when the relay ends."""
        if self._qemu_out is not None and self._qemu_out in r and not self._copy_qemu_log():
            return False                 # QEMU died before anybody attached
        if self.master in r:
            self._terminal_to_board()
        if self.sock is not None and self.sock in r and not self._board_to_pending():
            self._finish(self._pending)
            return False                 # QEMU closed the serial port: the firmware exited
        if self.attached and self.master in w and self._pending:
            self._pending_to_terminal()
        return True

    def _attach_if_opened(self) -> None:
        """A program opened the terminal: connect to QEMU (which starts the CPU) if not yet done."""
        if not self.attached and self._slave_open():
            self.attached = True
            self.opens += 1
            if self.sock is None:
                self._connect()

    def _wait_lists(self) -> tuple[list, list]:
        rlist, wlist = [], []
        if self.sock is not None and len(self._pending) < MAX_PENDING:
            rlist.append(self.sock)
        if self.attached:
            rlist.append(self.master)
            if self._pending:
                wlist.append(self.master)
        if self._qemu_out is not None:
            rlist.append(self._qemu_out)
        return rlist, wlist

    def _copy_qemu_log(self) -> bool:
        """QEMU's own output -> the log. False when QEMU is gone and nobody ever attached."""
        line = os.read(self._qemu_out.fileno(), 4096)
        if line:
            self.log.write(line.decode(errors="replace"))
            self.log.flush()
            return True
        self._qemu_out = None
        return self.sock is not None

    def _terminal_to_board(self) -> None:
        try:
            data = os.read(self.master, 4096)
        except OSError as e:
            if e.errno not in (errno.EIO, errno.EAGAIN):
                raise
            data = None if e.errno == errno.EIO else b""
        if data is None:                 # the program closed the terminal
            self._detach()
            self._pending.clear()
        elif data:
            self.to_board += len(data)
            _send_all(self.sock, data)

    def _board_to_pending(self) -> bool:
        """Board bytes -> the pending buffer (kept only while a program is attached).
        False when QEMU closed the serial port."""
        try:
            data = self.sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return True
        except OSError:
            data = b""
        if data == b"":
            return False
        if self.attached:
            self._pending += data
        return True

    def _pending_to_terminal(self) -> None:
        try:
            n = os.write(self.master, self._pending)
            self.to_host += n
            del self._pending[:n]
        except BlockingIOError:
            pass
        except OSError as e:
            if e.errno != errno.EIO:
                raise
            self._detach()
            self._pending.clear()

    def _finish(self, pending: bytearray, timeout: float = 3.0) -> None:
        """The board is gone: deliver what it sent last to an attached program and give that
        program up to `timeout` seconds to read it (closing the master would drop it)."""
        import fcntl
        import time

        if not self.attached:
            return
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            try:
                n = os.write(self.master, pending)
                self.to_host += n
                del pending[:n]
            except BlockingIOError:
                select.select([], [self.master], [], 0.05)
            except OSError:
                return
        try:
            slave = os.open(self.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError:
            return
        try:
            buf = bytearray(4)
            empty = 0
            while time.monotonic() < deadline and empty < 3:
                time.sleep(0.02)         # the tty moves written bytes to the reader asynchronously
                fcntl.ioctl(slave, termios.FIONREAD, buf)
                empty = empty + 1 if int.from_bytes(buf, sys.byteorder) == 0 else 0
        finally:
            os.close(slave)


def _send_all(sock: socket.socket, data: bytes) -> None:
    """sendall on a non-blocking socket (waits for room)."""
    view = memoryview(data)
    while view:
        try:
            n = sock.send(view)
            view = view[n:]
        except BlockingIOError:
            select.select([], [sock], [], 1.0)
