"""The oracle: TFLite Micro's reference kernels through the `tflite_micro` package."""
from __future__ import annotations

import numpy as np


def _arena_size(model_bytes: bytes, graph=None) -> int:
    act = 0
    if graph is not None:
        act = sum(t.nbytes for t in graph.tensors if not t.is_const)
    return 256 * 1024 + 4 * len(model_bytes) + 4 * act


def tflm_run(model_bytes: bytes, inputs, graph=None, preserve_all: bool = False):
    """Run TFLM on one sample per input (list of arrays with the model's full shapes).

    Returns the list of outputs, or with preserve_all a (outputs, {tensor index: array}) pair
    holding every non-constant tensor of the graph.
    """
    from tflite_micro import runtime

    cfg = runtime.InterpreterConfig.kPreserveAllTensors if preserve_all else runtime.InterpreterConfig.kAllocationRecording
    it = runtime.Interpreter.from_bytes(model_bytes, arena_size=_arena_size(model_bytes, graph), intrepreter_config=cfg)
    for i, x in enumerate(inputs):
        it.set_input(np.ascontiguousarray(x), i)
    it.invoke()
    n_out = len(graph.outputs) if graph is not None else 1
    outs = [np.array(it.get_output(i)) for i in range(n_out)]
    if not preserve_all:
        return outs
    tensors = {}
    for t in graph.tensors:
        if not t.is_const:
            d = it.GetTensor(t.index, 0)  # {'dtype', 'shape', 'tensor_data'}
            tensors[t.index] = np.array(d["tensor_data"]).reshape(t.shape)
    return outs, tensors


def tflm_run_batch(model_bytes: bytes, batch_inputs, graph, stateful: bool = False):
    """Run TFLM over a batch: batch_inputs is a list (per model input) of [N, *full_shape] arrays.

    A model with variable tensors (LSTM state) runs each sample from a fresh state (TFLM's reset()),
    unless `stateful` (the batch is one sequence)."""
    from tflite_micro import runtime

    it = runtime.Interpreter.from_bytes(model_bytes, arena_size=_arena_size(model_bytes, graph))
    n = batch_inputs[0].shape[0]
    outs = [[] for _ in graph.outputs]
    has_state = any(t.is_variable for t in graph.tensors)
    for s in range(n):
        if has_state and not stateful and s:
            it.reset()
        for i, x in enumerate(batch_inputs):
            it.set_input(np.ascontiguousarray(x[s]), i)
        it.invoke()
        for j in range(len(graph.outputs)):
            outs[j].append(np.array(it.get_output(j)))
    return [np.stack(o) for o in outs]


def random_inputs(graph, rng, n: int):
    """Random int8 / int16 / int32 batches (internal layout (N, *full_shape)) over the type's full range for
    every model input; bool inputs random; float inputs in [-2, 2)."""
    xs = []
    for t in graph.input_tensors:
        if t.dtype == np.bool_:
            xs.append(rng.integers(0, 2, size=(n,) + tuple(t.shape)).astype(bool))
        elif t.dtype in (np.int8, np.int16, np.int32):
            info = np.iinfo(t.dtype)
            xs.append(rng.integers(info.min, info.max + 1, size=(n,) + tuple(t.shape), dtype=t.dtype))
        else:
            xs.append(rng.uniform(-2, 2, size=(n,) + tuple(t.shape)).astype(np.float32))
    return xs


def assert_bit_exact(model_bytes: bytes, rng, n: int = 3, inputs=None, context: str = ""):
    """Emulator and TFLM agree in every element on n random samples (zero tolerance)."""
    from tinygen.emulator.engine import Emulator
    from tinygen.model.reader import parse_model

    g = parse_model(model_bytes)
    xs = inputs if inputs is not None else random_inputs(g, rng, n)
    ours = Emulator(g).run_internal(xs)
    ref = tflm_run_batch(model_bytes, xs, g)
    for k, (a, b) in enumerate(zip(ours, ref)):
        assert a.dtype == b.dtype, f"{context}: output {k} dtype {a.dtype} != oracle {b.dtype}"
        assert a.shape == b.shape, f"{context}: output {k} shape {a.shape} != oracle {b.shape}"
        if not np.array_equal(a, b):
            d = np.abs(a.astype(np.int64) - b.astype(np.int64)) if a.dtype != np.float32 else np.abs(a - b)
            raise AssertionError(
                f"{context}: output {k} differs from TFLM in {int((d != 0).sum())}/{d.size} elements, max |diff| {d.max()}"
            )
    return g
