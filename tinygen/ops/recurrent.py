"""Recurrent ops: UNIDIRECTIONAL_SEQUENCE_LSTM (int8 activations and weights, int16 cell state).

The arithmetic is TFLite Micro's integer LSTM (the reference kernel for 8x8->16 models): per time step
and per gate, two int8 x int8 fully-connected products (input and hidden state) requantized to int16
in Q3.12 (scale 2^-12) and added with int16 saturation, then an int16 sigmoid or tanh (the
interpolated 256-entry sigmoid table) into Q0.15; the cell state (int16, a power-of-two scale) is
updated as f*c + i*g with TFLM's element-wise int16 multiplications (MultiplyByQuantizedMultiplier,
int16 saturation) and clipped to the cell clip; the hidden state (int8) is tanh(c) * o requantized
to the hidden state's scale and zero point, and is copied to the output at every step.

The hidden and cell states are the op's variable tensors (inputs 18 and 19). TFLM resets them to the
hidden state's zero point and 0. `run` starts every sample from that reset state (`run_stateful`
starts from given states and also returns the updated states); the C kernel reads and writes the
state buffers in place, and the generated code resets them (see `reset_values`).

16x8 (int16 input, hidden state and output, zero points 0; int8 weights; int64 biases), as TFLM's
LstmStep<int16_t, int8_t, int16_t, int64_t>: the gate products accumulate in int64 and requantize with
TFLite's 64-bit MultiplyByQuantizedMultiplier (one rounding, the multiplier reduced to 16 bits, the
result narrowed to int32 with wrap-around as TFLM's release build does); the
hidden state saturates to int16; everything else is the 8x8 arithmetic. The `tflite_micro` package
reads 16x8 biases as int64 (an int32 bias is refused here: TFLM would read past it).

Only the standard Keras LSTM is supported (as in TFLM): no peephole, projection or layer norm, no
CIFG, per-tensor symmetric weights.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tinygen.model import fixedpoint as fp
from .base import C99, DSP, KernelVariant, Op, register, require, target_has_dsp

def _sigmoid_table_u16() -> np.ndarray:
    """The knots of the piecewise-linear sigmoid behind TFLite's int16 LOGISTIC/TANH kernels:
    sigmoid(i / 24) in 0.16 fixed point, i = 0..255. Each knot is lowered by a quarter of the sag of
    the two chords beside it (chord midpoint minus curve), which centres the linear interpolation on
    the curve; the last knot, where the sigmoid has saturated, is the top of the range (65535).
    These are the values TFLM's kernels interpolate (the LSTM property tests against tflite_micro
    check it); plain round(65536 * sigmoid) differs from them in 44 entries."""
    f = lambda x: 65536.0 / (1.0 + np.exp(-x / 24.0))  # noqa: E731
    i = np.arange(256, dtype=np.float64)
    sag_right = (f(i) + f(i + 1)) / 2 - f(i + 0.5)
    sag_left = (f(i - 1) + f(i)) / 2 - f(i - 0.5)
    table = np.round(f(i) - 0.25 * (sag_right + sag_left)).astype(np.int64)
    table[-1] = 65535
    return table


SIGMOID_TABLE_U16 = _sigmoid_table_u16()

GATES = ("input", "forget", "cell", "output")  # TFLM tensor order: input_to_{input,forget,cell,output}_weights
NONLINEAR_INPUT_SCALE = 2.0 ** -12  # Q3.12, the gate FC outputs
NONLINEAR_OUTPUT_SCALE = 2.0 ** -15  # Q0.15, the sigmoid/tanh outputs


def sigmoid_int16(x: np.ndarray) -> np.ndarray:
    """TFLM reference_integer_ops::Logistic(int16) with input_multiplier 0, left shift 0 (Q3.12 in, Q0.15 out)."""
    v = np.asarray(x, dtype=np.int64) * 3
    a = np.abs(v)
    uh = a >> 9
    idx = np.minimum(uh, 254)
    ua, ub = SIGMOID_TABLE_U16[idx], SIGMOID_TABLE_U16[idx + 1]
    res = np.where(uh >= 255, 0x7FFF << 10, (ua << 9) + (a & 0x1FF) * (ub - ua))
    res = np.where(v >= 0, res + (1 << 9), (1 << 25) - res + (1 << 9) - 1)
    return (res >> 10).astype(np.int16)


def tanh_params(scale_power: int) -> tuple[int, int]:
    """(input multiplier, input right shift) TFLM's LSTM Tanh(cell_state_scale_power) passes on."""
    left = 15 + scale_power - 3
    if left < 0:
        return 3, -left
    return 3 << left, 0


def tanh_int16(x: np.ndarray, scale_power: int) -> np.ndarray:
    """TFLM reference_integer_ops::Tanh(int16) as the LSTM calls it for an input of scale 2^scale_power."""
    mult, shift = tanh_params(scale_power)
    rnd = (1 << (shift - 1)) if shift > 0 else 0
    v = (np.asarray(x, dtype=np.int64) * mult + rnd) >> shift
    a = np.abs(v)
    uh = a >> 8
    idx = np.minimum(uh, 254)
    ua, ub = SIGMOID_TABLE_U16[idx], SIGMOID_TABLE_U16[idx + 1]
    res = np.where(uh >= 255, 0xFFFF << 8, (ua << 8) + (a & 0xFF) * (ub - ua))
    res = np.where(v >= 0, res - (1 << 23) + (1 << 7), -res + (1 << 23) + (1 << 7) - 1)
    return (res >> 8).astype(np.int16)


def mul_q(a, b, m: int, s: int, zp: int, lo: int, hi: int) -> np.ndarray:
    """TFLM MulElementwise on int16 inputs (offsets 0): clamp(zp + MBQM(a * b, m, s))."""
    prod = np.asarray(a, dtype=np.int64) * np.asarray(b, dtype=np.int64)
    return np.clip(zp + fp.multiply_by_quantized_multiplier(prod, m, s), lo, hi)


def _sat16(x):
    return np.clip(x, -32768, 32767)


@dataclass
class LstmParams:
    batch: int  # B (the tensor's own batch)
    steps: int  # T
    n_input: int  # I
    n_state: int  # S
    time_major: bool
    cell_tanh: bool  # cell gate activation: TANH (else SIGMOID)
    w_in: dict  # gate -> int8 (S, I)
    w_rec: dict  # gate -> int8 (S, S)
    b_in: dict  # gate -> int64 (S,): bias - input_zp * row sums
    b_rec: dict  # gate -> int64 (S,): -hidden_zp * row sums
    m_in: dict  # gate -> (multiplier, shift)
    m_rec: dict
    forget_mul: tuple[int, int]
    input_mul: tuple[int, int]
    output_mul: tuple[int, int]
    hidden_zp: int
    cell_scale_power: int
    cell_clip: int  # quantized cell clip (0: none)
    hidden_shape: tuple
    cell_shape: tuple
    wide: bool = False  # 16x8: int16 input / hidden / output, int64 accumulators and biases

    @property
    def act_dtype(self):
        return np.int16 if self.wide else np.int8


def _log2_exact(op, what: str, scale: float) -> int:
    """TFLM CheckedLog2: the scale must be a power of two."""
    lg = math.log2(float(scale))
    p = int(round(lg))
    require(abs(lg - p) < 1e-3, op, f"{what} scale {scale:g} is not a power of two (TFLM's integer LSTM needs one)")
    return p


def _check_lstm_variant(op, t) -> None:
    """No peepholes, projection or layer normalization (TFLM has none of them); `t(i)`: input i or None."""
    for i in (9, 10, 11):
        require(t(i) is None, op, "peephole connections are not supported (nor by TFLM)")
    require(t(16) is None and t(17) is None, op, "projection is not supported (nor by TFLM)")
    for i in (20, 21, 22, 23):
        require(t(i) is None, op, "layer normalization is not supported (nor by TFLM)")


def _check_lstm_weights(op, t, wide: bool) -> None:
    """Constant per-tensor symmetric int8 weights for all four gates, constant biases (int64 in 16x8)."""
    bias_t = np.int64 if wide else np.int32
    for i in range(1, 9):
        w = t(i)
        require(w is not None, op, "CIFG (no input gate) is not supported (nor by TFLM)")
        require(w.is_const and w.dtype == np.int8 and w.quant is not None, op,
                f"weight input {i} is {w.dtype_name}{'' if w.is_const else ' (not constant)'}; only constant int8 weights are supported")
        require(not w.quant.per_channel and w.zero_point == 0, op, f"weight input {i} must be per-tensor symmetric (zero point 0)")
    for i in range(12, 16):
        b = t(i)
        require(b is not None and b.is_const and b.dtype == bias_t, op,
                f"bias input {i} must be a constant {np.dtype(bias_t).name} tensor"
                + (" (16x8: TFLM reads int64 biases)" if wide else ""))


def _check_lstm_states(op, x, h, c, y) -> None:
    """Variable hidden (the input's type) and int16 cell states, a power-of-two cell scale, the output
    quantized as the hidden state."""
    wide = x.dtype == np.int16
    act = np.int16 if wide else np.int8
    require(h is not None and c is not None, op, "hidden and cell state tensors are required")
    require(h.dtype == act and h.quant is not None, op,
            f"hidden state is {h.dtype_name}; the input is {x.dtype_name}, so it must be {np.dtype(act).name}")
    if wide:
        require(x.zero_point == 0 and h.zero_point == 0, op, "16x8: input and hidden state zero points must be 0")
    require(c.dtype == np.int16 and c.quant is not None, op, f"cell state is {c.dtype_name}; only int16 is supported")
    require(not h.is_const and not c.is_const, op, "hidden and cell states must be variable tensors")
    _log2_exact(op, "cell state", c.scale)
    require(y.dtype == act and y.scale == h.scale and y.zero_point == h.zero_point, op,
            "output type and quantization must equal the hidden state's")


@register
class UnidirectionalSequenceLstm(Op):
    name = "UNIDIRECTIONAL_SEQUENCE_LSTM"
    dtypes = ("int8", "int16")
    dsp_dtypes = ("int8", "int16")
    stateful = True  # has variable tensors (inputs STATE_INPUTS) that persist across invokes
    STATE_INPUTS = (18, 19)

    def check(self, g, op):
        require(len(op.inputs) == 24 and len(op.outputs) == 1, op, "expects 24 inputs and one output")
        t = lambda i: g.tensors[op.inputs[i]] if op.inputs[i] >= 0 else None  # noqa: E731
        x, y = t(0), g.tensors[op.outputs[0]]
        require(x is not None and x.dtype in (np.int8, np.int16) and x.quant is not None, op,
                f"input is {x.dtype_name if x is not None else 'missing'}; only int8 and int16 (16x8), with an int16 "
                "cell state, are supported")
        wide = x.dtype == np.int16
        require(len(x.shape) == 3, op, f"input has shape {list(x.shape)}, expected 3 dimensions")
        _check_lstm_variant(op, t)
        _check_lstm_weights(op, t, wide)
        _check_lstm_states(op, x, t(18), t(19), y)
        tm = bool(op.options.get("time_major", False))
        bsz = x.shape[1] if tm else x.shape[0]
        s = t(1).shape[0]
        h, c = t(18), t(19)
        require(t(1).shape[1] == x.shape[2], op, "input weights do not match the input depth")
        require(h.size == bsz * s and c.size == bsz * s, op, "state sizes do not match batch x units")
        require(tuple(y.shape) == (x.shape[0], x.shape[1], s), op, f"output shape {list(y.shape)} does not match")
        act = op.options.get("fused_activation_function", "TANH")
        require(act == "TANH", op, f"cell activation {act} is not supported (only TANH)")

    def prepare(self, g, op):
        from .fully_connected import _per_tensor_multiplier

        t = lambda i: g.tensors[op.inputs[i]]  # noqa: E731
        x, h, c = t(0), t(18), t(19)
        tm = bool(op.options.get("time_major", False))
        w_in, w_rec, b_in, b_rec, m_in, m_rec = {}, {}, {}, {}, {}, {}
        for k, gate in enumerate(GATES):
            wi, wr, b = t(1 + k), t(5 + k), t(12 + k)
            w_in[gate] = wi.data.astype(np.int8)
            w_rec[gate] = wr.data.astype(np.int8)
            b_in[gate] = b.data.astype(np.int64) - x.zero_point * wi.data.astype(np.int64).sum(axis=1)
            b_rec[gate] = -h.zero_point * wr.data.astype(np.int64).sum(axis=1)
            mi, si = _per_tensor_multiplier(op, x.scale, wi.scale, NONLINEAR_INPUT_SCALE)
            mr, sr = _per_tensor_multiplier(op, h.scale, wr.scale, NONLINEAR_INPUT_SCALE)
            m_in[gate], m_rec[gate] = (int(mi[0]), int(si[0])), (int(mr[0]), int(sr[0]))
        cs = float(c.scale)
        qm = lambda a, b, o: fp.quantize_multiplier(float(np.float32(a)) * float(np.float32(b)) / float(np.float32(o)))  # noqa: E731
        clip = float(op.options.get("cell_clip", 0.0))
        qclip = int(min(max(float(np.float32(clip)) / cs, -32768.0), 32767.0)) if clip > 0 else 0
        return LstmParams(
            batch=x.shape[1] if tm else x.shape[0], steps=x.shape[0] if tm else x.shape[1], n_input=x.shape[2],
            n_state=t(1).shape[0], time_major=tm,
            cell_tanh=op.options.get("fused_activation_function", "TANH") == "TANH",
            w_in=w_in, w_rec=w_rec, b_in=b_in, b_rec=b_rec, m_in=m_in, m_rec=m_rec,
            forget_mul=qm(NONLINEAR_OUTPUT_SCALE, cs, cs), input_mul=qm(NONLINEAR_OUTPUT_SCALE, NONLINEAR_OUTPUT_SCALE, cs),
            output_mul=qm(NONLINEAR_OUTPUT_SCALE, NONLINEAR_OUTPUT_SCALE, h.scale),
            hidden_zp=int(h.zero_point), cell_scale_power=_log2_exact(op, "cell state", cs), cell_clip=qclip,
            hidden_shape=tuple(h.shape), cell_shape=tuple(c.shape), wide=x.dtype == np.int16)

    # ------------------------------------------------------------------ numpy kernel
    @staticmethod
    def reset_values(p: LstmParams) -> tuple[np.ndarray, np.ndarray]:
        """The states TFLM resets to: hidden = its zero point (int8), cell = 0 (int16)."""
        return (np.full(p.hidden_shape, p.hidden_zp, dtype=p.act_dtype), np.zeros(p.cell_shape, dtype=np.int16))

    def _gate(self, p, gate, xt, ht, act):
        from .conv16 import mbqm_int64

        mi, si = p.m_in[gate]
        mr, sr = p.m_rec[gate]
        # 8x8: int32 accumulators and TFLM's double-rounding requantization; 16x8: int64 and the 64-bit one
        # (TFLite's 64-bit one returns its int64 result cast to int32: wrapped, then saturated to int16)
        rq = (lambda v, m, s: fp.wrap_int32(mbqm_int64(v, m, s))) if p.wide else fp.multiply_by_quantized_multiplier
        a = _sat16(rq(xt @ p.w_in[gate].T.astype(np.int64) + p.b_in[gate], mi, si))
        r = _sat16(rq(ht @ p.w_rec[gate].T.astype(np.int64) + p.b_rec[gate], mr, sr))
        z = _sat16(a + r)
        return sigmoid_int16(z) if act == "sigmoid" else tanh_int16(z, -12)

    def run_stateful(self, p: LstmParams, inputs):
        """Run from the given states (inputs[18], inputs[19], (N, *state shape)); returns
        ([output], hidden, cell) with the updated states."""
        x = inputs[0].astype(np.int64)
        n = x.shape[0]
        if p.time_major:
            x = x.transpose(0, 2, 1, 3)  # (N, B, T, I)
        rows = n * p.batch
        x = x.reshape(rows, p.steps, p.n_input)
        hid = np.broadcast_to(inputs[18], (n,) + p.hidden_shape).reshape(rows, p.n_state).astype(np.int64)
        cell = np.broadcast_to(inputs[19], (n,) + p.cell_shape).reshape(rows, p.n_state).astype(np.int64)
        out = np.empty((rows, p.steps, p.n_state), dtype=p.act_dtype)
        info = np.iinfo(p.act_dtype)
        for s in range(p.steps):
            xt = x[:, s]
            f = self._gate(p, "forget", xt, hid, "sigmoid")
            i = self._gate(p, "input", xt, hid, "sigmoid")
            gcell = self._gate(p, "cell", xt, hid, "tanh" if p.cell_tanh else "sigmoid")
            cell = mul_q(f, cell, *p.forget_mul, 0, -32768, 32767)
            cell = _sat16(cell + mul_q(i, gcell, *p.input_mul, 0, -32768, 32767))
            if p.cell_clip > 0:
                cell = np.clip(cell, -p.cell_clip, p.cell_clip)
            o = self._gate(p, "output", xt, hid, "sigmoid")
            hid = mul_q(tanh_int16(cell, p.cell_scale_power), o, *p.output_mul, p.hidden_zp, info.min, info.max)
            out[:, s] = hid
        out = out.reshape(n, p.batch, p.steps, p.n_state)
        if p.time_major:
            out = out.transpose(0, 2, 1, 3)
        return ([np.ascontiguousarray(out)], hid.reshape((n,) + p.hidden_shape).astype(p.act_dtype),
                cell.reshape((n,) + p.cell_shape).astype(np.int16))

    def run(self, p: LstmParams, inputs):
        """Each sample from TFLM's reset state (the state inputs are ignored)."""
        h0, c0 = self.reset_values(p)
        args = list(inputs)
        args[18], args[19] = h0[None], c0[None]
        return self.run_stateful(p, args)[0]

    def macs(self, g, op):
        x = g.tensors[op.inputs[0]]
        s, i = g.tensors[op.inputs[1]].shape
        return int(x.shape[0] * x.shape[1]) * 4 * s * (i + s)

    # ------------------------------------------------------------------ C binding
    def emit_c(self, p: LstmParams, ctx):
        """C binding: tg_lstm_s8 (firmware/kernels/tg_lstm.c). The state buffers (inputs 18 and 19)
        are read and updated in place; `reset`: the op resets them first (one sequence per invoke)."""
        from tinygen.model.fixedpoint import wrap_int32

        ctx.need("tg_lstm.c")
        k = ctx.op_index
        gates = []
        for gate in GATES:
            biases = (dict(b_in="NULL", b_rec="NULL", b_in64=ctx.const(p.b_in[gate], "int64_t", f"op{k}_{gate}_b_in"))
                      if p.wide else
                      dict(b_in=ctx.const(wrap_int32(p.b_in[gate]), "int32_t", f"op{k}_{gate}_b_in"),
                           b_rec=ctx.const(wrap_int32(p.b_rec[gate]), "int32_t", f"op{k}_{gate}_b_rec"), b_in64="NULL"))
            gates.append(dict(
                w_in=ctx.const(p.w_in[gate], "int8_t", f"op{k}_{gate}_w_in"),
                w_rec=ctx.const(p.w_rec[gate], "int8_t", f"op{k}_{gate}_w_rec"), **biases,
                m_in=p.m_in[gate][0], s_in=p.m_in[gate][1], m_rec=p.m_rec[gate][0], s_rec=p.m_rec[gate][1]))
        tm, ts = tanh_params(p.cell_scale_power)
        fields = dict(batch=p.batch, steps=p.steps, n_input=p.n_input, n_state=p.n_state, time_major=p.time_major,
                      cell_tanh=p.cell_tanh, gates=gates,
                      forget_m=p.forget_mul[0], forget_s=p.forget_mul[1], input_m=p.input_mul[0], input_s=p.input_mul[1],
                      output_m=p.output_mul[0], output_s=p.output_mul[1], hidden_zp=p.hidden_zp,
                      cell_tanh_mult=tm, cell_tanh_shift=ts, cell_clip=p.cell_clip,
                      reset=bool(getattr(ctx, "reset_state_each_invoke", True)),
                      sigmoid_table=ctx.const(SIGMOID_TABLE_U16.astype(np.uint16), "uint16_t", "tg_sigmoid_table_u16"))
        fn, act = ("tg_lstm_s16", "int16_t") if p.wide else ("tg_lstm_s8", "int8_t")
        return (f"{fn}({ctx.struct('tg_lstm_params_t', fields)}, {ctx.input(0)}, {ctx.output()}, "
                f"({act} *)(void *){ctx.input(18)}, (int16_t *)(void *){ctx.input(19)});")

    def kernel_variant(self, p: LstmParams, target: str | None = None) -> KernelVariant:
        """The gate products are int8 dot products: SMLAD (two int8 pairs per instruction) on DSP targets
        (16x8: SMLALD, two int16 x int8 pairs into the int64 accumulator)."""
        if target_has_dsp(target):
            if p.wide:
                return KernelVariant(DSP, "SMLALD dot products (int64 accumulators) for the gate products", 0)
            return KernelVariant(DSP, "SMLAD dot products for the input and recurrent gate products", 0)
        return KernelVariant(C99, f"{target} has no DSP extension", 0)
