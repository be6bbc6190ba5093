"""The one in-memory representation of a model.

`tinygen.reader` builds a Graph from a .tflite file; every later stage
(inspect, C arrays, emulator, planner, code generator, project writer,
validator) consumes it and never touches the flatbuffer.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Quantization:
    """Affine quantization: real = scale * (q - zero_point).

    `scale` and `zero_point` are 1-D arrays: length 1 for per-tensor
    quantization, one entry per channel along `axis` for per-channel.
    """

    scale: np.ndarray
    zero_point: np.ndarray
    axis: int = 0

    @property
    def per_channel(self) -> bool:
        return self.scale.size > 1

    @property
    def scalar_scale(self) -> float:
        return float(self.scale[0])

    @property
    def scalar_zero_point(self) -> int:
        return int(self.zero_point[0])


@dataclass
class Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: np.dtype  # numpy dtype (np.int8, np.int32, np.float32, ...)
    quant: Quantization | None = None
    data: np.ndarray | None = None  # constant data, already shaped, or None
    is_variable: bool = False

    @property
    def is_const(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(self.dtype).itemsize

    @property
    def dtype_name(self) -> str:
        return np.dtype(self.dtype).name

    @property
    def scale(self) -> float:
        return self.quant.scalar_scale if self.quant is not None else 0.0

    @property
    def zero_point(self) -> int:
        return self.quant.scalar_zero_point if self.quant is not None else 0


@dataclass
class Operator:
    index: int
    op: str  # builtin name, e.g. "CONV_2D"
    version: int
    inputs: list[int]  # tensor indices, -1 for an omitted optional input
    outputs: list[int]
    options: dict[str, Any] = field(default_factory=dict)  # decoded builtin options, snake_case keys
    source_index: int = -1  # index in the .tflite file (differs from `index` after folding), -1: same

    @property
    def activation(self) -> str:
        """Fused activation ("NONE", "RELU", "RELU6", "RELU_N1_TO_1", ...), "NONE" when absent."""
        return self.options.get("fused_activation_function", "NONE")


@dataclass
class Graph:
    tensors: list[Tensor]
    operators: list[Operator]
    inputs: list[int]
    outputs: list[int]
    name: str = "model"
    description: str = ""
    version: int = 3
    metadata: dict[str, bytes] = field(default_factory=dict)
    sha256: str = ""  # of the .tflite bytes
    model_bytes: bytes = b""
    notes: list[str] = field(default_factory=list)  # inconsistencies the reader tolerated, as TFLM does
    folded: list[Operator] = field(default_factory=list)  # shape-arithmetic ops evaluated at load time (fold.py)

    def tensor(self, index: int) -> Tensor:
        return self.tensors[index]

    def op_inputs(self, op: Operator) -> list[Tensor | None]:
        return [self.tensors[i] if i >= 0 else None for i in op.inputs]

    def op_outputs(self, op: Operator) -> list[Tensor]:
        return [self.tensors[i] for i in op.outputs]

    @property
    def input_tensors(self) -> list[Tensor]:
        return [self.tensors[i] for i in self.inputs]

    @property
    def output_tensors(self) -> list[Tensor]:
        return [self.tensors[i] for i in self.outputs]

    def producers(self) -> dict[int, int]:
        """tensor index -> index of the operator that writes it."""
        return {t: op.index for op in self.operators for t in op.outputs}

    def consumers(self) -> dict[int, list[int]]:
        """tensor index -> indices of the operators that read it, in execution order."""
        out: dict[int, list[int]] = {}
        for op in self.operators:
            for t in op.inputs:
                if t >= 0:
                    out.setdefault(t, []).append(op.index)
        return out

    def model_op_names(self) -> list[str]:
        """The distinct op names of the .tflite file itself (folded ops included), in first-use order."""
        ops = sorted(self.folded + self.operators, key=lambda o: getattr(o, "source_index", o.index))
        return list(dict.fromkeys(o.op for o in ops))

    @property
    def model_op_count(self) -> int:
        """Operators in the .tflite file itself (folded ops included)."""
        return len(self.operators) + len(self.folded)

    def op_names(self) -> list[str]:
        """The distinct op names in first-use order (of the ops left to run)."""
        seen: list[str] = []
        for op in self.operators:
            if op.op not in seen:
                seen.append(op.op)
        return seen
