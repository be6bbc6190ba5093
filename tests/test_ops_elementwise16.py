"""ADD, SUB, MUL with int16 activations (16x8): bit-exact with TFLite Micro (property tests against the
oracle, broadcasting and fused activations), and the generated C on QEMU Cortex-M4."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import examples
from tests.support.opmodels import ModelBuilder
from tests.support.oracle import assert_bit_exact
from tests.support.onboard import assert_bit_exact_on_board
from tinygen.model.reader import parse_model

SCALES = st.floats(-16, -6).map(lambda e: float(np.float32(2.0 ** e)))


def binary16(name, s0, s1, q0, q1, qo, act="NONE", zp=(0, 0, 0)) -> bytes:
    m = ModelBuilder()
    a = m.tensor(s0, dtype=np.int16, scale=q0, zero_point=zp[0])
    b = m.tensor(s1, dtype=np.int16, scale=q1, zero_point=zp[1])
    y = m.tensor(list(np.broadcast_shapes(tuple(s0), tuple(s1))), dtype=np.int16, scale=qo, zero_point=zp[2])
    m.op(name, [a, b], [y], fused_activation_function=act)
    return m.build([a, b], [y])


@st.composite
def bshapes(draw):
    out = draw(st.lists(st.integers(1, 4), min_size=1, max_size=4))

    def sub():
        r = draw(st.integers(1, len(out)))
        return [draw(st.sampled_from([1, d])) for d in out[len(out) - r:]]
    return sub(), sub()


@settings(max_examples=examples(10), deadline=None)
@given(bshapes(), st.sampled_from(["ADD", "SUB", "MUL"]), SCALES, SCALES, st.floats(0.3, 4), st.sampled_from(["NONE", "RELU", "RELU6"]),
       st.integers(0, 2**31))
def test_int16_binary_bit_exact(shapes, name, s0, s1, ratio, act, seed):
    so = float(np.float32(max(s0, s1) * ratio * (max(s0, s1) * 3000 if name == "MUL" else 1)))
    model = binary16(name, *shapes, s0, s1, so, act)
    assert_bit_exact(model, np.random.default_rng(seed), n=2, context=f"{name} {shapes} {s0} {s1} {so} {act}")


def elementwise16_models() -> dict[str, bytes]:
    return {"add16_bcast": binary16("ADD", [2, 1, 3], [4, 1], 0.001, 0.0007, 0.002, "RELU"),
            "sub16": binary16("SUB", [3, 5], [3, 5], 0.0005, 0.001, 0.0015),
            "mul16_bcast": binary16("MUL", [2, 3], [3], 0.001, 0.002, 0.003)}


@pytest.mark.qemu
@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
                    reason="needs arm-none-eabi-gcc and qemu-system-arm")
def test_int16_binary_on_cortex_m4(tmp_path):
    rng = np.random.default_rng(16)
    models = elementwise16_models()
    graphs = {n: parse_model(b, name=n) for n, b in models.items()}
    xs = {n: [[rng.integers(-32768, 32768, size=t.shape).astype(np.int16) for t in g.input_tensors] for _ in range(2)]
          for n, g in graphs.items()}
    assert_bit_exact_on_board(models, graphs, xs, tmp_path)
