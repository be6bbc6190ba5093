"""Stage 6, the device: serial framing and the request/response protocol, the link to a real or
emulated board, the firmware self-test, validate and monitor. Imports every stage below it."""
