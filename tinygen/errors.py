"""tinygen's own error types.

Every problem a user can cause (bad file, unsupported model, missing tool, no
board) is raised as a TinygenError; the CLI prints its message as one line on
stderr and exits with `exit_code`. Anything else is a bug and shows a traceback.
"""


class TinygenError(Exception):
    """A user-facing error: one clear line, non-zero exit."""

    exit_code = 2


class ModelError(TinygenError):
    """The file is not a readable .tflite model (missing, empty, truncated, corrupt)."""


class UnsupportedModelError(TinygenError):
    """A valid model that tinygen does not handle (float/hybrid, custom op, several subgraphs, ...)."""


class UnsupportedOpError(UnsupportedModelError):
    """An operator, or an option of one, that tinygen does not implement."""

    def __init__(self, op_index, op_name, problem):
        self.op_index = op_index
        self.op_name = op_name
        self.problem = problem
        super().__init__(f"op {op_index} ({op_name}): {problem}")


class ToolError(TinygenError):
    """An external tool (compiler, QEMU, flasher) is missing or failed."""


class DeviceError(TinygenError):
    """No board, several candidates, busy port, serial timeouts, garbled traffic."""


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived (see tinygen.signals.stop_on_signals): unwinds like Ctrl-C,
    so every `finally` that stops a child process (QEMU, a server) runs. The CLI exits with
    128 + the signal number."""

    def __init__(self, signum: int):
        import signal

        self.signum = signum
        try:
            self.signame = signal.Signals(signum).name
        except ValueError:
            self.signame = f"signal {signum}"
        super().__init__(self.signame)

    @property
    def exit_code(self) -> int:
        return 128 + self.signum
