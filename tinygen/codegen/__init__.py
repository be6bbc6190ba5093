"""Stage 4, C code: the static memory planner, the interpreter-free C generator, C arrays of the
model for TFLM users (with a resolver header) and TFLM arena measurement. Imports model, ops."""
