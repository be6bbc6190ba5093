"""Stage 5, boards: board data files, the firmware project writer, the fit check, firmware builds,
QEMU, build/flash/serve, and the on-target test runner. Imports model, ops, emulator, codegen."""
