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

    def tensor(self, shape, dtype=np.int8, scale=None, zero_point=0, data=None, axis=0, name=None) -> int:
        t = S.TensorT()
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
