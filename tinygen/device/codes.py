"""The vocabulary of tinygen's serial protocol (docs/protocol.md): command, error and INFO
flag codes (mirrored in firmware/protocol/tg_proto.h; tests/test_protocol.py checks that they
agree) and the exceptions for device replies. `tinygen.device.protocol` re-exports them."""
from __future__ import annotations

from tinygen.errors import DeviceError

REPLY_FLAG = 0x80
SHA_PREFIX = 8
MAX_STRING = 63
MAX_TENSORS = 8
MAX_DIMS = 6

# requests
CMD_PING = 0x01
CMD_INFO = 0x02
CMD_INFER_BEGIN = 0x10
CMD_INFER_CHUNK = 0x11
CMD_INFER_RUN = 0x12
CMD_OUTPUT_READ = 0x13
CMD_PROFILE = 0x20
CMD_LAYER = 0x21
CMD_RESET = 0x30
CMD_RESET_STATE = 0x31
CMD_SET_BAUD = 0x32
# device -> host only
CMD_BOOT = 0xFE
CMD_ERROR = 0xFF

ERR_BAD_CRC = 1
ERR_BAD_LENGTH = 2
ERR_UNKNOWN_CMD = 3
ERR_BAD_STATE = 4
ERR_OUT_OF_RANGE = 5
ERR_MODEL_MISMATCH = 6
ERR_OVERFLOW = 7
ERR_BAD_VERSION = 8
ERR_BAD_FRAME = 9
ERR_APP = 10
ERR_UNAVAILABLE = 11

COMMAND_NAMES = {v: k[4:] for k, v in globals().items() if k.startswith("CMD_")}
ERROR_NAMES = {v: k[4:] for k, v in globals().items() if k.startswith("ERR_")}
# Error replies meaning "your frame did not arrive intact": resend it.
FRAMING_ERRORS = frozenset({ERR_BAD_CRC, ERR_BAD_FRAME, ERR_OVERFLOW})

# INFO flags (firmware/protocol/tg_proto.h)
FLAG_PAGED = 0x01           # INFER_RUN takes max_inline u16, PROFILE takes max_count u16
FLAG_GAPS = 0x02            # INFER_CHUNKs on unit boundaries may arrive out of order
FLAG_SACK = 0x04            # INFER_CHUNK replies carry a bitmap of the units held beyond the prefix
FLAG_STATE = 0x08           # the device understands RESET_STATE
INFO_FLAGS = FLAG_PAGED | FLAG_GAPS | FLAG_SACK | FLAG_STATE   # what this tinygen's firmware sets
SACK_BYTES = 16             # at most this many bitmap bytes in an INFER_CHUNK reply
MIN_UNIT = 16               # (firmware constants, for the tests)
MAX_UNITS = 2048
WINDOW = 1024               # wire bytes of chunks in flight at once (one maximal frame)

DTYPE_NAMES = {0: "float32", 2: "int32", 3: "uint8", 7: "int16", 9: "int8", 0xFF: "unknown"}


class ProtocolError(DeviceError):
    """The device answered a request with an error reply."""

    reset = False

    def __init__(self, message, code=None, cmd=None, detail=None):
        super().__init__(message)
        self.code = code
        self.cmd = cmd
        self.detail = detail

    @property
    def code_name(self):
        return ERROR_NAMES.get(self.code, str(self.code))


class PortError(DeviceError):
    """The serial port failed or disappeared (unplugged board, QEMU exited)."""


class DeviceResetError(ProtocolError):
    """The device rebooted (BOOT frame) or lost its state mid-run. `.boot` holds
    the BOOT frame's JSON when one was seen; `client.sync()` then resume."""

    reset = True

    def __init__(self, message, boot=None, **kw):
        super().__init__(message, **kw)
        self.boot = boot
