"""`convert --tflm`: a MicroMutableOpResolver registration header for TFLite Micro users."""
from __future__ import annotations

from tinygen.codegen.c_text import MARKER, c_comment
from tinygen.model.graph import Graph

# Builtin op name -> MicroMutableOpResolver method, where the rule below does not give it.
_SPECIAL = {
    "CONV_2D": "AddConv2D",
    "DEPTHWISE_CONV_2D": "AddDepthwiseConv2D",
    "AVERAGE_POOL_2D": "AddAveragePool2D",
    "MAX_POOL_2D": "AddMaxPool2D",
    "L2_POOL_2D": "AddL2Pool2D",
    "TRANSPOSE_CONV": "AddTransposeConv",
    "PADV2": "AddPadV2",
    "RELU6": "AddRelu6",
    "RELU_N1_TO_1": "AddReluN1To1",
    "RESIZE_NEAREST_NEIGHBOR": "AddResizeNearestNeighbor",
    "BATCH_MATMUL": "AddBatchMatMul",
    "LOG_SOFTMAX": "AddLogSoftmax",
}


def resolver_method(op: str) -> str:
    if op in _SPECIAL:
        return _SPECIAL[op]
    return "Add" + "".join(p.capitalize() for p in op.split("_"))


def render_resolver(g: Graph, ident: str, header: str, arena_bytes: int | None) -> str:
    ops = g.model_op_names()
    n = len(ops)
    up = ident.upper()
    if arena_bytes is None:
        arena_note = "estimate: 2x the largest activations (tflite-micro package not installed)"
        acts = sorted((t.nbytes for t in g.tensors if not t.is_const), reverse=True)
        arena_bytes = 2 * sum(acts[:2]) + 4096
    else:
        arena_note = "measured with the tflite_micro host interpreter (64-bit), plus 10% and 1 KB headroom"
        arena_bytes = int(arena_bytes * 1.1) + 1024
    arena_bytes = (arena_bytes + 15) // 16 * 16
    body = "\n".join(f"  if (r.{resolver_method(op)}() != kTfLiteOk) return kTfLiteError;" for op in ops)
    return f"""/* {MARKER} from {c_comment(g.name)}.tflite. Do not edit. */
/* TFLite Micro glue for {ident}: the op resolver listing exactly the model's ops. */
#ifndef {up}_TFLM_H_
#define {up}_TFLM_H_

#include "{header}"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"

constexpr int k{_camel(ident)}OpCount = {n};
/* Suggested tensor arena: {arena_note}. */
constexpr unsigned int k{_camel(ident)}ArenaSize = {arena_bytes};

using {_camel(ident)}OpResolver = tflite::MicroMutableOpResolver<{n}>;

/* Registers {', '.join(ops)}. */
inline TfLiteStatus {ident}_register_ops({_camel(ident)}OpResolver &r) {{
{body}
  return kTfLiteOk;
}}

#endif /* {up}_TFLM_H_ */
"""


def _camel(ident: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in ident.split("_") if p)
