"""Single-op (or small) models run on an emulated board: built into one firmware with their samples
baked in, run in QEMU, and every output compared with the host emulator, which is first checked
against tflite_micro on the same samples."""
from __future__ import annotations

import numpy as np

from tests.support.oracle import assert_bit_exact


def assert_bit_exact_on_board(models: dict[str, bytes], graphs: dict, xs: dict, workdir,
                              board: str = "qemu-cortex-m4", timeout: float = 120, portable: bool = False,
                              optimize: str = "size") -> None:
    """models: {name: .tflite bytes}; graphs: {name: Graph}; xs: {name: [sample: [input arrays]]}.
    Output 0 of every sample on the board equals the emulator's, and the emulator equals TFLM.
    `portable`: build the kernels with -DTG_PORTABLE (their C99 paths, no DSP variants); `optimize`: generate()'s
    ("speed": every op keeps its DSP kernel whatever its scratch)."""
    from tinygen.boards.mcu_run import build_models, run_models
    from tinygen.emulator import Emulator

    fw = build_models(board, graphs, xs, workdir / ("fw_portable" if portable else "fw"), portable=portable, optimize=optimize)
    res = run_models(fw, timeout=timeout)
    for n, g in graphs.items():
        batch = [np.stack([s[k] for s in xs[n]]) for k in range(len(g.inputs))]
        assert_bit_exact(models[n], None, inputs=batch, context=n)
        want = Emulator(g).run_internal(batch)[0]
        for k, r in enumerate(res.models[n]):
            np.testing.assert_array_equal(r.outputs[0], want[k], err_msg=f"{n} sample {k}")
