"""Run a Graph on the host with the registry's numpy kernels (bit-exact with TFLite Micro).

    from tinygen.emulator.engine import Emulator
    emu = Emulator.from_file("model.tflite")
    y = emu.run(x)                      # x: [N, *input_shape] int8 (or float32)
    outs, layers = emu.run(x, layers=True)

A user-facing batch replaces the model's batch axis of 1: a model input of shape
[1, 49, 10, 1] takes arrays of shape [N, 49, 10, 1] (arrays with the full shape
[N, 1, 49, 10, 1] are accepted too). Outputs come back the same way.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinygen.errors import TinygenError
from tinygen.model.fixedpoint import round_half_away_from_zero
from tinygen.model.graph import Graph, Tensor
from tinygen.ops import REGISTRY, check_graph
from tinygen.model.reader import load_int8_model


@dataclass
class LayerOutput:
    op_index: int
    op: str
    tensor_index: int
    tensor_name: str
    value: np.ndarray  # user-facing batch layout [N, *shape]


def sample_shape(t: Tensor) -> tuple[int, ...]:
    """The per-sample shape users see: the model shape without a leading batch axis of 1."""
    return tuple(t.shape[1:]) if len(t.shape) > 1 and t.shape[0] == 1 else tuple(t.shape)


def to_internal(x: np.ndarray, t: Tensor, what: str = "input") -> np.ndarray:
    """User batch -> internal (N, *full_shape) array of the tensor's dtype."""
    x = np.asarray(x)
    full = tuple(t.shape)
    samp = sample_shape(t)
    if x.shape[1:] == full:
        batch = x
    elif x.shape[1:] == samp:
        batch = x.reshape((x.shape[0],) + full)
    elif x.shape == full or x.shape == samp:
        batch = x.reshape((1,) + full)
    else:
        raise TinygenError(
            f"{what} '{t.name}' has shape {list(x.shape)}; expected [N, {', '.join(map(str, samp))}] (the model's shape is {list(full)})"
        )
    if t.dtype in (np.int8, np.int16, np.int32):
        info = np.iinfo(t.dtype)
        if np.issubdtype(batch.dtype, np.floating):
            if t.quant is None:
                raise TinygenError(f"{what} '{t.name}' has no quantization parameters to quantize float data with")
            # as TFLM's QUANTIZE does it: float32 division, round half away from zero
            q = round_half_away_from_zero(batch.astype(np.float32) / np.float32(t.scale)) + t.zero_point
            return np.clip(q, info.min, info.max).astype(t.dtype)
        if batch.dtype != t.dtype:
            if not np.issubdtype(batch.dtype, np.integer) and batch.dtype != np.bool_:
                raise TinygenError(f"{what} '{t.name}': {batch.dtype} data for a {t.dtype_name} input")
            if batch.min(initial=0) < info.min or batch.max(initial=0) > info.max:
                raise TinygenError(f"{what} '{t.name}': values outside the {t.dtype_name} range")
            return batch.astype(t.dtype)
        return batch
    if t.dtype == np.float32:
        return batch.astype(np.float32)
    raise TinygenError(f"{what} '{t.name}' has dtype {t.dtype_name}, which tinygen cannot feed")


def to_user(a: np.ndarray, t: Tensor) -> np.ndarray:
    """Internal (N, *full_shape) -> user batch (N, *sample_shape)."""
    return a.reshape((a.shape[0],) + sample_shape(t))


class Emulator:
    def __init__(self, graph: Graph):
        check_graph(graph)
        self.graph = graph
        self.params = [REGISTRY[op.op].prepare(graph, op) for op in graph.operators]
        self.state: dict[int, np.ndarray] = {}  # variable tensor -> its value (1, *shape), stateful runs

    @property
    def has_state(self) -> bool:
        """The model has ops with variable tensors (LSTM state) that persist across invokes in TFLM."""
        return any(getattr(REGISTRY[op.op], "stateful", False) for op in self.graph.operators)

    def reset_state(self) -> None:
        """Forget the state a stateful run carried (the next one starts from the reset values)."""
        self.state = {}

    @classmethod
    def from_file(cls, path: str | Path) -> "Emulator":
        return cls(load_int8_model(path))

    def run_internal(self, inputs: list[np.ndarray], keep_all: bool = False, stateful: bool = False):
        """inputs: per model input, (N, *full_shape) arrays of the right dtype.

        Returns the outputs (internal layout) and, with keep_all, a dict of every
        non-constant tensor index -> array.

        Models with state (variable tensors: LSTM): each sample runs from the reset state, unless
        `stateful`: then the samples are one sequence, run one after the other, and the state
        carries over (also to the next stateful call, until reset_state()).
        """
        if stateful and self.has_state:
            n = inputs[0].shape[0] if inputs else 0
            per = [self._run_batch([x[s:s + 1] for x in inputs], keep_all, stateful=True) for s in range(n)]
            if keep_all:
                outs = [np.concatenate([p[0][k] for p in per]) for k in range(len(self.graph.outputs))]
                values = {t: np.concatenate([p[1][t] for p in per]) for t in per[0][1]} if per else {}
                return outs, values
            return [np.concatenate([p[k] for p in per]) for k in range(len(self.graph.outputs))]
        return self._run_batch(inputs, keep_all)

    def _run_batch(self, inputs: list[np.ndarray], keep_all: bool = False, stateful: bool = False):
        g = self.graph
        values = self._bind_inputs(inputs)
        last_use = {} if keep_all else {t: op.index for op in g.operators for t in op.inputs}
        keep = set(g.outputs)
        for op, p in zip(g.operators, self.params):
            outs = self._run_op(op, p, self._op_args(op, values, stateful), stateful)
            for tid, y in zip(op.outputs, outs):
                values[tid] = y
            if not keep_all:
                for tid in op.inputs:     # free what no later op reads
                    if last_use.get(tid) == op.index and tid not in keep:
                        values.pop(tid, None)
        outputs = [values[t] for t in g.outputs]
        return (outputs, values) if keep_all else outputs

    def _bind_inputs(self, inputs: list[np.ndarray]) -> dict[int, np.ndarray]:
        """tensor index -> batch of every model input (checked: count, one batch size)."""
        g = self.graph
        if len(inputs) != len(g.inputs):
            raise TinygenError(f"model has {len(g.inputs)} inputs, got {len(inputs)}")
        n = inputs[0].shape[0]
        values: dict[int, np.ndarray] = {}
        for tid, x in zip(g.inputs, inputs):
            if x.shape[0] != n:
                raise TinygenError("all inputs must have the same batch size")
            values[tid] = x
        return values

    def _op_args(self, op, values: dict, stateful: bool) -> list:
        """The op's input arrays: None for an absent input, constants with a batch axis of 1, a state
        tensor not computed in this run its carried value (when `stateful`) or None (reset value)."""
        g = self.graph
        args = []
        for tid in op.inputs:
            if tid < 0:
                args.append(None)
                continue
            t = g.tensors[tid]
            if t.is_variable and tid not in values:  # state: the op starts from its reset value
                args.append(self.state.get(tid) if stateful else None)
                continue
            args.append(t.data[None] if t.is_const else values[tid])
        return args

    def _run_op(self, op, p, args: list, stateful: bool) -> list:
        """The op's outputs; a stateful run of an op with state also keeps its new state."""
        impl = REGISTRY[op.op]
        if not (stateful and getattr(impl, "stateful", False)):
            return impl.run(p, args)
        for pos, init in zip(impl.STATE_INPUTS, impl.reset_values(p)):
            if args[pos] is None:
                args[pos] = init[None]
        outs, *new_state = impl.run_stateful(p, args)
        for pos, v in zip(impl.STATE_INPUTS, new_state):
            self.state[op.inputs[pos]] = v
        return outs

    def run(self, *inputs, layers: bool = False, stateful: bool = False):
        """Run a user-facing batch (one array per model input).

        Returns the output (single-output model) or a list of outputs; with layers=True
        also the list of LayerOutput, one per operator output, in execution order.
        """
        g = self.graph
        xs = [to_internal(x, g.tensors[tid]) for x, tid in zip(inputs, g.inputs)]
        res = self.run_internal(xs, keep_all=layers, stateful=stateful)
        outs_int, values = res if layers else (res, None)
        outs = [to_user(a, g.tensors[t]) for a, t in zip(outs_int, g.outputs)]
        out = outs[0] if len(outs) == 1 else outs
        if not layers:
            return out
        per_layer = [
            LayerOutput(op.index, op.op, tid, g.tensors[tid].name, to_user(values[tid], g.tensors[tid]))
            for op in g.operators
            for tid in op.outputs
        ]
        return out, per_layer
