"""Build small .tflite models directly through the flatbuffer schema.

Far quicker than the TensorFlow converter, so property tests can build a
fresh single-op model per hypothesis example. Uses the object API of the
schema module that ships with the `tflite_micro` wheel (a test dependency).
"""
from __future__ import annotations

import flatbuffers
import numpy as np
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as S

_TYPES = {
    np.dtype(np.float32): S.TensorType.FLOAT32,
    np.dtype(np.int32): S.TensorType.INT32,
    np.dtype(np.int8): S.TensorType.INT8,
    np.dtype(np.int16): S.TensorType.INT16,
    np.dtype(np.uint8): S.TensorType.UINT8,
    np.dtype(np.int64): S.TensorType.INT64,
    np.dtype(np.bool_): S.TensorType.BOOL,
}

# op name -> (BuiltinOptions enum name, OptionsT class name)
_OPTIONS = {
    "CONV_2D": "Conv2DOptions",
    "UNIDIRECTIONAL_SEQUENCE_LSTM": "UnidirectionalSequenceLSTMOptions",
    "SVDF": "SVDFOptions",
    "DEPTHWISE_CONV_2D": "DepthwiseConv2DOptions",
    "FULLY_CONNECTED": "FullyConnectedOptions",
    "AVERAGE_POOL_2D": "Pool2DOptions",
    "MAX_POOL_2D": "Pool2DOptions",
    "ADD": "AddOptions",
    "SUB": "SubOptions",
    "MUL": "MulOptions",
    "SOFTMAX": "SoftmaxOptions",
    "CONCATENATION": "ConcatenationOptions",
    "RESHAPE": "ReshapeOptions",
    "SQUEEZE": "SqueezeOptions",
    "EXPAND_DIMS": "ExpandDimsOptions",
    "PAD": "PadOptions",
    "MEAN": "ReducerOptions",
    "SUM": "ReducerOptions",
    "REDUCE_MAX": "ReducerOptions",
    "REDUCE_MIN": "ReducerOptions",
    "CUMSUM": "CumsumOptions",
    "STRIDED_SLICE": "StridedSliceOptions",
    "TRANSPOSE": "TransposeOptions",
    "LEAKY_RELU": "LeakyReluOptions",
    "HARD_SWISH": "HardSwishOptions",
    "SHAPE": "ShapeOptions",
    "PACK": "PackOptions",
    "UNPACK": "UnpackOptions",
    "GATHER": "GatherOptions",
    "RESIZE_NEAREST_NEIGHBOR": "ResizeNearestNeighborOptions",
    "RESIZE_BILINEAR": "ResizeBilinearOptions",
    "TRANSPOSE_CONV": "TransposeConvOptions",
    "SPLIT": "SplitOptions",
    "SPLIT_V": "SplitVOptions",
    "SLICE": "SliceOptions",
    "DEPTH_TO_SPACE": "DepthToSpaceOptions",
    "SPACE_TO_DEPTH": "SpaceToDepthOptions",
    "BROADCAST_TO": "BroadcastToOptions",
    "MIRROR_PAD": "MirrorPadOptions",
    "SPACE_TO_BATCH_ND": "SpaceToBatchNDOptions",
    "BATCH_TO_SPACE_ND": "BatchToSpaceNDOptions",
    "SELECT_V2": "SelectV2Options",
    "SQUARED_DIFFERENCE": "SquaredDifferenceOptions",
    "EQUAL": "EqualOptions",
    "NOT_EQUAL": "NotEqualOptions",
    "LESS": "LessOptions",
    "LESS_EQUAL": "LessEqualOptions",
    "GREATER": "GreaterOptions",
    "GREATER_EQUAL": "GreaterEqualOptions",
    "LOGICAL_AND": "LogicalAndOptions",
    "LOGICAL_OR": "LogicalOrOptions",
    "LOGICAL_NOT": "LogicalNotOptions",
    "ARG_MAX": "ArgMaxOptions",
    "ARG_MIN": "ArgMinOptions",
    "ABS": "AbsOptions",
    "MAXIMUM": "MaximumMinimumOptions",
    "MINIMUM": "MaximumMinimumOptions",
    "DIV": "DivOptions",
    "L2_NORMALIZATION": "L2NormOptions",
    "LOG_SOFTMAX": "LogSoftmaxOptions",
    "BATCH_MATMUL": "BatchMatMulOptions",
}

_ENUMS = {
    "padding": S.Padding,
    "fused_activation_function": S.ActivationFunctionType,
}


def _camel(key: str) -> str:
    parts = key.split("_")
    return parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])


class ModelBuilder:
    """Assemble tensors and ops, then `build()` the .tflite bytes.

    Example::

        m = ModelBuilder()
        x = m.tensor([1, 8, 8, 3], scale=0.1, zero_point=-3)
        w = m.tensor([4, 3, 3, 3], data=weights, scale=w_scales, zero_point=0, axis=0)
        b = m.tensor([4], dtype=np.int32, data=bias, scale=in_scale * w_scales)
        y = m.tensor([1, 8, 8, 4], scale=0.2, zero_point=5)
        m.op("CONV_2D", [x, w, b], [y], padding="SAME", stride_w=1, stride_h=1)
        model_bytes = m.build([x], [y])
    """

    def __init__(self):
        self.tensors: list = []
        self.buffers: list = [S.BufferT()]  # buffer 0 is the empty sentinel
        self.ops: list = []
        self.opcodes: list[tuple[int, int]] = []

    def tensor(self, shape, dtype=np.int8, scale=None, zero_point=0, data=None, axis=0, name=None, variable=False) -> int:
        t = S.TensorT()
        t.isVariable = bool(variable)
        t.shape = [int(d) for d in shape]
        dtype = np.dtype(dtype)
        t.type = _TYPES[dtype]
        t.name = name or f"t{len(self.tensors)}"
        if data is not None:
            arr = np.ascontiguousarray(np.asarray(data, dtype=dtype).reshape(t.shape))
            buf = S.BufferT()
            buf.data = np.frombuffer(arr.astype(dtype.newbyteorder("<")).tobytes(), dtype=np.uint8)
            self.buffers.append(buf)
            t.buffer = len(self.buffers) - 1
        else:
            t.buffer = 0
        if scale is not None:
            q = S.QuantizationParametersT()
            q.scale = [float(s) for s in np.atleast_1d(scale)]
            zp = np.atleast_1d(zero_point).astype(np.int64)
            if zp.size == 1 and len(q.scale) > 1:
                zp = np.full(len(q.scale), zp[0])
            q.zeroPoint = [int(z) for z in zp]
            q.quantizedDimension = int(axis)
            t.quantization = q
        self.tensors.append(t)
        return len(self.tensors) - 1

    def const(self, data, dtype=np.int32, **kw) -> int:
        data = np.asarray(data, dtype=dtype)
        return self.tensor(data.shape, dtype=dtype, data=data, **kw)

    def op(self, name: str, inputs, outputs, version: int = 1, **options) -> int:
        """Add a builtin op; name may also be "CUSTOM:<code>" or "CODE:<number>" (for error tests)."""
        if name.startswith("CUSTOM:"):
            code, version = (S.BuiltinOperator.CUSTOM, name[7:]), version
        elif name.startswith("CODE:"):
            code = int(name[5:])
        else:
            code = getattr(S.BuiltinOperator, name)
        key = (code, version)
        if key not in self.opcodes:
            self.opcodes.append(key)
        o = S.OperatorT()
        o.opcodeIndex = self.opcodes.index(key)
        o.inputs = [int(i) for i in inputs]
        o.outputs = [int(i) for i in outputs]
        opt_name = _OPTIONS.get(name)
        if opt_name is not None:
            opts = getattr(S, opt_name + "T")()
            for k, v in options.items():
                if k in _ENUMS and isinstance(v, str):
                    v = getattr(_ENUMS[k], v)
                attr = _camel(k)
                if not hasattr(opts, attr):
                    raise AttributeError(f"{opt_name} has no field {k}")
                setattr(opts, attr, v)
            o.builtinOptionsType = getattr(S.BuiltinOptions, opt_name)
            o.builtinOptions = opts
        elif options:
            raise ValueError(f"{name} takes no options, got {sorted(options)}")
        self.ops.append(o)
        return len(self.ops) - 1

    def build(self, inputs, outputs, description: str = "tinygen test model", subgraphs: int = 1, hook=None) -> bytes:
        """The .tflite bytes; `hook(model)` may change the schema's ModelT object before it is packed."""
        sg = S.SubGraphT()
        sg.tensors = self.tensors
        sg.inputs = [int(i) for i in inputs]
        sg.outputs = [int(i) for i in outputs]
        sg.operators = self.ops
        sg.name = "main"
        m = S.ModelT()
        m.version = 3
        m.description = description
        m.subgraphs = [sg] * subgraphs
        m.buffers = self.buffers
        codes = []
        for code, version in self.opcodes:
            oc = S.OperatorCodeT()
            if isinstance(code, tuple):
                code, oc.customCode = code
            oc.builtinCode = code
            oc.deprecatedBuiltinCode = min(code, 127)
            oc.version = version
            codes.append(oc)
        m.operatorCodes = codes
        if hook is not None:
            hook(m)
        b = flatbuffers.Builder(1024)
        b.Finish(m.Pack(b), file_identifier=b"TFL3")
        return bytes(b.Output())


# ---------------------------------------------------------------- single-op models several test files use


def dynamic_flatten(shape=(1, 2, 3, 5), extra_concat=False) -> bytes:
    """x -> SHAPE -> STRIDED_SLICE(shrink, [0]) -> PACK(batch, -1 ... as a constant) -> RESHAPE(x) -> LOGISTIC."""
    m = ModelBuilder()
    n = int(np.prod(shape[1:]))
    x = m.tensor(list(shape), scale=0.05, zero_point=3)
    s = m.tensor([len(shape)], dtype=np.int32)
    m.op("SHAPE", [x], [s], out_type=2)
    b = m.tensor([], dtype=np.int32)
    m.op("STRIDED_SLICE", [s, m.const([0]), m.const([1]), m.const([1])], [b], shrink_axis_mask=1)
    target = m.tensor([2], dtype=np.int32)
    m.op("PACK", [b, m.const(np.array(n, np.int32))], [target], values_count=2, axis=0)
    if extra_concat:  # a MUL of constant int32 vectors folds too
        t2 = m.tensor([2], dtype=np.int32)
        m.op("MUL", [target, m.const([1, 1])], [t2])
        target = t2
    r = m.tensor([shape[0], n], scale=0.05, zero_point=3)
    m.op("RESHAPE", [x, target], [r])
    y = m.tensor([shape[0], n], scale=1 / 256, zero_point=-128)
    m.op("LOGISTIC", [r], [y])
    return m.build([x], [y])


def resize_model(in_shape, size, dtype=np.int8, align_corners=False, half_pixel_centers=False, out_q=None) -> bytes:
    m = ModelBuilder()
    q = (0.05, 3) if dtype == np.int8 else (0.001, 0)
    x = m.tensor(in_shape, dtype=dtype, scale=q[0], zero_point=q[1])
    y = m.tensor([in_shape[0], size[0], size[1], in_shape[3]], dtype=dtype, scale=(out_q or q)[0], zero_point=(out_q or q)[1])
    m.op("RESIZE_NEAREST_NEIGHBOR", [x, m.const(np.array(size, np.int32))], [y],
         align_corners=align_corners, half_pixel_centers=half_pixel_centers)
    return m.build([x], [y])


def conv16_model(rng, in_shape, oc, k, stride=(1, 1), padding="SAME", dil=(1, 1), bias="int64", act="NONE",
                 per_channel=True, groups=1) -> bytes:
    """CONV_2D with int16 activations, int8 weights and an int64 / int32 / no bias (16x8)."""
    m = ModelBuilder()
    b, h, w, c = in_shape
    kh, kw = k
    cf = c // groups
    in_scale = float(rng.uniform(0.0002, 0.002))
    x = m.tensor(in_shape, dtype=np.int16, scale=in_scale, zero_point=0)
    ws = rng.uniform(0.002, 0.02, size=oc) if per_channel else float(rng.uniform(0.002, 0.02))
    wt = m.tensor([oc, kh, kw, cf], data=rng.integers(-127, 128, size=(oc, kh, kw, cf)), scale=ws, zero_point=0, axis=0)
    ins = [x, wt]
    if bias is not None:
        lim = 1 << 30 if bias == "int64" else 1 << 20
        bd = rng.integers(-lim, lim, size=oc)
        ins.append(m.tensor([oc], dtype=np.int64 if bias == "int64" else np.int32, data=bd, scale=in_scale * np.atleast_1d(ws)))
    eff = [(kk - 1) * d + 1 for kk, d in zip(k, dil)]
    if padding == "SAME":
        oh, ow = -(-h // stride[0]), -(-w // stride[1])
    else:
        oh, ow = (h - eff[0]) // stride[0] + 1, (w - eff[1]) // stride[1] + 1
    typical = float(np.sqrt(kh * kw * cf) * 8000 * np.mean(ws) * 60 * in_scale / 20000)
    y = m.tensor([b, oh, ow, oc], dtype=np.int16, scale=typical * float(rng.uniform(0.3, 3)), zero_point=0)
    m.op("CONV_2D", ins, [y], padding=padding, stride_h=stride[0], stride_w=stride[1], dilation_h_factor=dil[0],
         dilation_w_factor=dil[1], fused_activation_function=act)
    return m.build([x], [y])


def transpose_conv_model(rng, in_shape, oc, k, stride=(1, 1), padding="SAME", dtype=np.int8, bias=True, act="NONE",
                         per_channel=True, out_hw=None, shape_input=False) -> bytes:
    """TRANSPOSE_CONV (int8, or int16 with an int64 bias). out_hw defaults to the largest size whose
    convolution gives the input size; shape_input=True makes output_shape a graph input (as SEANet's)."""
    m = ModelBuilder()
    b, h, w, ic = in_shape
    kh, kw = k
    if out_hw is None:
        out_hw = (h * stride[0], w * stride[1]) if padding == "SAME" else ((h - 1) * stride[0] + kh, (w - 1) * stride[1] + kw)
    int16 = dtype == np.int16
    in_scale = float(rng.uniform(0.0002, 0.002)) if int16 else float(rng.uniform(0.01, 0.1))
    in_zp = 0 if int16 else int(rng.integers(-128, 128))
    ws = rng.uniform(0.002, 0.02, size=oc) if per_channel else float(rng.uniform(0.002, 0.02))
    wt = m.tensor([oc, kh, kw, ic], data=rng.integers(-127, 128, size=(oc, kh, kw, ic)), scale=ws, zero_point=0, axis=0)
    out_shape = [b, out_hw[0], out_hw[1], oc]
    shp = m.tensor([4], dtype=np.int32) if shape_input else m.const(np.array(out_shape, np.int32))
    x = m.tensor(in_shape, dtype=dtype, scale=in_scale, zero_point=in_zp)
    ins = [shp, wt, x]
    if bias:
        lim = 1 << 30 if int16 else 20000
        ins.append(m.tensor([oc], dtype=np.int64 if int16 else np.int32, data=rng.integers(-lim, lim, size=oc),
                            scale=in_scale * np.atleast_1d(ws)))
    taps = max(1, kh * kw * ic // (stride[0] * stride[1]))
    typical = float(np.sqrt(taps) * (8000 if int16 else 60) * np.mean(ws) * 60 * in_scale / (20000 if int16 else 40))
    y = m.tensor(out_shape, dtype=dtype, scale=typical * float(rng.uniform(0.3, 3)),
                 zero_point=0 if int16 else int(rng.integers(-128, 128)))
    m.op("TRANSPOSE_CONV", ins, [y], padding=padding, stride_h=stride[0], stride_w=stride[1], fused_activation_function=act)
    return m.build([shp, x] if shape_input else [x], [y])


def lstm_model(rng, batch=1, steps=3, n_input=5, units=4, time_major=False, in_q=(0.05, -3), hidden_q=(1 / 128, 2),
               cell_power=-11, cell_clip=10.0, w_scale=0.02, bias_scale=4000, act="TANH", dtype=np.int8,
               bias_dtype=None) -> bytes:
    """One UNIDIRECTIONAL_SEQUENCE_LSTM (int16 cell state 2^cell_power, variable hidden/cell states) with
    random weights (per-tensor symmetric, int8) and int32 biases, as TFLite's converter lays it out.
    dtype np.int16: 16x8 (int16 input, hidden state and output, zero points 0, int64 biases)."""
    m = ModelBuilder()
    wide = np.dtype(dtype) == np.int16
    if wide:
        in_q, hidden_q = (in_q[0], 0), (hidden_q[0], 0)
    bias_dtype = bias_dtype or (np.int64 if wide else np.int32)
    x_shape = [steps, batch, n_input] if time_major else [batch, steps, n_input]
    x = m.tensor(x_shape, dtype=dtype, scale=in_q[0], zero_point=in_q[1])
    ins = [x]
    for shape, s_in in [((units, n_input), in_q[0])] * 4 + [((units, units), hidden_q[0])] * 4:
        ws = w_scale * float(rng.uniform(0.5, 2.0))
        ins.append(m.tensor(shape, data=rng.integers(-127, 128, size=shape), scale=ws, zero_point=0))
    ins += [-1, -1, -1]
    for k in range(4):
        bs = in_q[0] * 0.02
        ins.append(m.tensor([units], dtype=bias_dtype, data=rng.integers(-bias_scale, bias_scale + 1, size=units), scale=bs))
    ins += [-1, -1]
    h = m.tensor([batch, units], dtype=dtype, scale=hidden_q[0], zero_point=hidden_q[1], variable=True)
    c = m.tensor([batch, units], dtype=np.int16, scale=2.0 ** cell_power, zero_point=0, variable=True)
    ins += [h, c, -1, -1, -1, -1]
    y = m.tensor(x_shape[:2] + [units], dtype=dtype, scale=hidden_q[0], zero_point=hidden_q[1])
    m.op("UNIDIRECTIONAL_SEQUENCE_LSTM", ins, [y], fused_activation_function=act, cell_clip=cell_clip,
         proj_clip=0.0, time_major=time_major)
    return m.build([x], [y])


def svdf_model(rng, batch=1, n_input=5, units=4, rank=1, memory=3, state=np.int16, in_q=(0.05, -3), out_zp=4,
               e1=-4.0, e2=-22.0, w_time_max=None, act="RELU", input_dtype=np.int8, output_dtype=np.int8) -> bytes:
    """One SVDF (int8 input/output, `state` int16 or int8 state and time weights, variable state) with random
    weights. The state scale makes the feature product's requantization 2^e1, the output scale the time
    product's 2^e2 (TFLM's integer kernel ignores `act`)."""
    f32 = lambda v: float(np.float32(v))  # noqa: E731
    m = ModelBuilder()
    n_filter = units * rank
    x = m.tensor([batch, n_input], dtype=input_dtype, scale=in_q[0], zero_point=in_q[1])
    s_wf = f32(0.01 * float(rng.uniform(0.5, 2.0)))
    wf = m.tensor([n_filter, n_input], data=rng.integers(-127, 128, size=(n_filter, n_input)), scale=s_wf)
    s_s = f32(np.float32(in_q[0]) * np.float32(s_wf) / np.float32(2.0 ** e1))
    top = w_time_max or (32767 if state == np.int16 else 127)
    s_wt = f32(0.001 * float(rng.uniform(0.5, 2.0)))
    wt = m.tensor([n_filter, memory], dtype=state, data=rng.integers(-top, top + 1, size=(n_filter, memory)), scale=s_wt)
    s_b = f32(np.float32(s_s) * np.float32(s_wt))
    b = m.tensor([units], dtype=np.int32, data=rng.integers(-20000, 20001, size=units), scale=s_b)
    zp_s = 0 if state == np.int16 else int(rng.integers(-20, 21))
    st = m.tensor([batch, memory * n_filter], dtype=state, scale=s_s, zero_point=zp_s, variable=True)
    y = m.tensor([batch, units], dtype=output_dtype, scale=f32(s_b / 2.0 ** e2), zero_point=out_zp)
    m.op("SVDF", [x, wf, wt, b, st], [y], rank=rank, fused_activation_function=act)
    return m.build([x], [y])
