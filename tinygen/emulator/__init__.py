"""Stage 3, the emulator: runs a Graph on a batch with the op registry's numpy kernels, bit-exact
with TFLite Micro's reference kernels. Imports model, ops."""
from tinygen.emulator.engine import Emulator, LayerOutput, sample_shape, to_internal, to_user  # noqa: F401
