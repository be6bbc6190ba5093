"""TFLite Micro's fixed-point arithmetic, vectorised with numpy.

These reproduce TFLM's reference kernels bit for bit (the classic gemmlowp
double rounding: a saturating rounding doubling high multiply, then a rounding
divide by a power of two). All functions accept scalars or numpy arrays and
compute in int64, wrapping to int32 where the C code would.
"""
from __future__ import annotations

import math

import numpy as np

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1


def tflite_round(x: float) -> int:
    """std::round: half away from zero."""
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


def quantize_multiplier(real_multiplier: float) -> tuple[int, int]:
    """TFLM QuantizeMultiplier: real = M * 2^(shift - 31), M in [2^30, 2^31)."""
    if real_multiplier == 0.0:
        return 0, 0
    q, shift = math.frexp(real_multiplier)
    q_fixed = tflite_round(q * (1 << 31))
    assert q_fixed <= (1 << 31)
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        shift, q_fixed = 0, 0
    return int(q_fixed), int(shift)


def quantize_multiplier_array(real_multipliers) -> tuple[np.ndarray, np.ndarray]:
    """quantize_multiplier over an array (per-channel): int32 multipliers, int32 shifts."""
    pairs = [quantize_multiplier(float(m)) for m in np.atleast_1d(real_multipliers)]
    return (np.array([p[0] for p in pairs], dtype=np.int64), np.array([p[1] for p in pairs], dtype=np.int64))


def wrap_int32(x):
    """Two's complement wrap of int64 values to the int32 range (what C int32 arithmetic does)."""
    x = np.asarray(x, dtype=np.int64)
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def _trunc_div(v: np.ndarray, d: int) -> np.ndarray:
    """C integer division (truncates toward zero) of int64 arrays by a positive constant."""
    q = np.abs(v) // d
    return np.where(v < 0, -q, q)


def saturating_rounding_doubling_high_mul(a, b):
    """gemmlowp SaturatingRoundingDoublingHighMul on int32 values (given as int64 arrays)."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    overflow = (a == INT32_MIN) & (b == INT32_MIN)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    res = _trunc_div(ab + nudge, 1 << 31)
    return np.where(overflow, INT32_MAX, res)


def rounding_divide_by_pot(x, exponent):
    """gemmlowp RoundingDivideByPOT: x / 2^exponent, rounding half away from zero."""
    x = np.asarray(x, dtype=np.int64)
    exponent = np.asarray(exponent, dtype=np.int64)
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0).astype(np.int64)
    return (x >> exponent) + (remainder > threshold).astype(np.int64)


def multiply_by_quantized_multiplier(x, multiplier, shift):
    """TFLM MultiplyByQuantizedMultiplier (double rounding). Broadcasts per-channel M/shift."""
    x = np.asarray(x, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    shifted = wrap_int32(x * (np.int64(1) << left))
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, multiplier), right)


def multiply_by_quantized_multiplier_smaller_than_one_exp(x, multiplier, shift):
    """TFLM MultiplyByQuantizedMultiplierSmallerThanOneExp (shift <= 0)."""
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(x, multiplier), -np.asarray(shift, dtype=np.int64))


def multiply_by_quantized_multiplier_greater_than_one(x, multiplier, left_shift):
    """TFLM MultiplyByQuantizedMultiplierGreaterThanOne."""
    x = np.asarray(x, dtype=np.int64)
    return saturating_rounding_doubling_high_mul(wrap_int32(x * (np.int64(1) << np.asarray(left_shift, dtype=np.int64))), multiplier)


def activation_range_int8(activation: str, scale: float, zero_point: int) -> tuple[int, int]:
    """TFLM CalculateActivationRangeQuantized for int8 outputs."""
    qmin, qmax = -128, 127

    def quantize(v: float) -> int:
        # TfLiteRound(f / scale) computed in float, as TFLM does
        return zero_point + tflite_round(float(np.float32(v) / np.float32(scale)))

    if activation == "NONE":
        return qmin, qmax
    if activation == "RELU":
        return max(qmin, quantize(0.0)), qmax
    if activation == "RELU6":
        return max(qmin, quantize(0.0)), min(qmax, quantize(6.0))
    if activation == "RELU_N1_TO_1":
        return max(qmin, quantize(-1.0)), min(qmax, quantize(1.0))
    raise ValueError(f"unsupported fused activation {activation}")


# ---------------------------------------------------------------------------
# gemmlowp-style fixed-point transcendental functions (TFLM's fixedpoint.h),
# used by LOGISTIC, TANH and SOFTMAX. Values are int32 raws held in int64 arrays;
# `integer_bits` is the FixedPoint<int32, integer_bits> format of an argument.
# ---------------------------------------------------------------------------


def _i64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.int64)


def count_leading_zeros_u32(x) -> np.ndarray:
    """CountLeadingZeros(static_cast<uint32_t>(x)): 32 for 0."""
    u = _i64(x) & 0xFFFFFFFF
    n = np.zeros(u.shape, dtype=np.int64)
    for s in (16, 8, 4, 2, 1):
        small = u < (np.int64(1) << (32 - s))
        n = np.where(small, n + s, n)
        u = np.where(small, u << s, u)
    return np.where(_i64(x) & 0xFFFFFFFF == 0, 32, n)


def rounding_half_sum(a, b) -> np.ndarray:
    """gemmlowp RoundingHalfSum for int32: (a + b + sign) / 2, truncating."""
    s = _i64(a) + _i64(b)
    return _trunc_div(s + np.where(s >= 0, 1, -1), 2)


def saturating_rounding_multiply_by_pot(x, exponent: int) -> np.ndarray:
    """gemmlowp SaturatingRoundingMultiplyByPOT<exponent> on int32 raws."""
    x = _i64(x)
    if exponent == 0:
        return x
    if exponent < 0:
        return rounding_divide_by_pot(x, -exponent)
    threshold = (1 << (31 - exponent)) - 1
    shifted = np.clip(x * (1 << exponent), INT32_MIN, INT32_MAX)
    return np.where(x > threshold, INT32_MAX, np.where(x < -threshold, INT32_MIN, shifted))


def rescale_fixed(x, src_integer_bits: int, dst_integer_bits: int) -> np.ndarray:
    """gemmlowp Rescale<dst>(FixedPoint<int32, src>)."""
    return saturating_rounding_multiply_by_pot(x, src_integer_bits - dst_integer_bits)


def _fx_add(a, b):
    return wrap_int32(_i64(a) + _i64(b))


def _fx_sub(a, b):
    return wrap_int32(_i64(a) - _i64(b))


def _fx_mul(a, b):
    return saturating_rounding_doubling_high_mul(a, b)


def _exp_on_interval_between_negative_one_quarter_and_0_excl(a):
    """exp(a) for a in [-1/4, 0), Q0.31 in and out."""
    constant_term = 1895147668  # exp(-1/8)
    constant_1_over_3 = 715827883
    x = _fx_add(a, 1 << 28)  # a + 1/8
    x2 = _fx_mul(x, x)
    x3 = _fx_mul(x2, x)
    x4 = _fx_mul(x2, x2)
    x4_over_4 = rounding_divide_by_pot(x4, 2)
    poly = rounding_divide_by_pot(_fx_add(_fx_mul(_fx_add(x4_over_4, x3), constant_1_over_3), x2), 1)
    return _fx_add(constant_term, _fx_mul(constant_term, _fx_add(x, poly)))


_EXP_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308), (2, 39332535), (3, 720401), (4, 242))


def exp_on_negative_values(a, integer_bits: int) -> np.ndarray:
    """gemmlowp exp_on_negative_values: exp(a) for a <= 0 in Q(integer_bits); result Q0.31."""
    a = _i64(a)
    frac_bits = 31 - integer_bits
    one_quarter = 1 << (frac_bits - 2)
    mask = one_quarter - 1
    a_mod_quarter_minus_one_quarter = _fx_sub(a & mask, one_quarter)
    result = _exp_on_interval_between_negative_one_quarter_and_0_excl(
        rescale_fixed(a_mod_quarter_minus_one_quarter, integer_bits, 0))
    remainder = _fx_sub(a_mod_quarter_minus_one_quarter, a)
    for exponent, multiplier in _EXP_BARREL:
        if integer_bits > exponent:
            bit = np.int64(1) << (frac_bits + exponent)
            result = np.where((remainder & bit) != 0, _fx_mul(result, multiplier), result)
    if integer_bits > 5:
        clamp = -(1 << (36 - integer_bits))  # -32.0
        result = np.where(a < clamp, 0, result)
    return np.where(a == 0, INT32_MAX, result)


def _newton_reciprocal_f2(a):
    """The Newton-Raphson core shared by 1/(1+x) and (1-x)/(1+x): returns (x in Q2.29)."""
    half_denominator = rounding_half_sum(a, INT32_MAX)
    x = _fx_add(1515870810, _fx_mul(half_denominator, -1010580540))  # 48/17 - 32/17 * d
    one_f2 = 1 << 29
    for _ in range(3):
        one_minus = _fx_sub(one_f2, _fx_mul(half_denominator, x))
        x = _fx_add(x, rescale_fixed(_fx_mul(x, one_minus), 4, 2))
    return x


def one_over_one_plus_x_for_x_in_0_1(a) -> np.ndarray:
    """gemmlowp one_over_one_plus_x_for_x_in_0_1 (Q0.31 in and out)."""
    return rescale_fixed(_newton_reciprocal_f2(a), 1, 0)  # ExactMulByPot<-1>: Q2 -> Q1, same raw


def one_minus_x_over_one_plus_x_for_x_in_0_1(a) -> np.ndarray:
    """gemmlowp one_minus_x_over_one_plus_x_for_x_in_0_1 (Q0.31 in and out)."""
    return rescale_fixed(_fx_sub(_newton_reciprocal_f2(a), 1 << 29), 2, 0)


def fixed_tanh(a, integer_bits: int) -> np.ndarray:
    """gemmlowp tanh(FixedPoint<int32, integer_bits>) -> Q0.31."""
    a = _i64(a)
    negative = a < 0
    n = np.where(negative, a, wrap_int32(-a))
    # neg_tanh_on_negative_values: ExactMulByPot<1> keeps the raw, one more integer bit
    t = one_minus_x_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(n, integer_bits + 1))
    return np.where(a == 0, 0, np.where(negative, wrap_int32(-t), t))


def fixed_logistic(a, integer_bits: int) -> np.ndarray:
    """gemmlowp logistic(FixedPoint<int32, integer_bits>) -> Q0.31."""
    a = _i64(a)
    positive = a > 0
    abs_input = np.where(positive, a, wrap_int32(-a))
    result_pos = one_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(wrap_int32(-abs_input), integer_bits))
    result_neg = _fx_sub(INT32_MAX, result_pos)
    return np.where(a == 0, 1 << 30, np.where(positive, result_pos, result_neg))


def get_reciprocal(x, x_integer_digits: int) -> tuple[np.ndarray, np.ndarray]:
    """TFLM GetReciprocal: (Q0.31 reciprocal raw, num_bits_over_unit) of a Q(x_integer_digits) value."""
    x = _i64(x)
    headroom_plus_one = count_leading_zeros_u32(x)
    num_bits_over_unit = x_integer_digits - headroom_plus_one
    shifted = ((x & 0xFFFFFFFF) << headroom_plus_one) & 0xFFFFFFFF
    shifted_sum_minus_one = wrap_int32(shifted - (1 << 31))
    return one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one), num_bits_over_unit


def calculate_input_radius(input_integer_bits: int, input_left_shift: int, total_signed_bits: int = 31) -> int:
    """TFLM CalculateInputRadius (the double-precision path)."""
    max_input_rescaled = (1.0 * ((1 << input_integer_bits) - 1) * float(1 << (total_signed_bits - input_integer_bits))
                          / float(1 << input_left_shift))
    return int(math.floor(max_input_rescaled))


def saturating_rounding_doubling_high_mul_int16(a, b) -> np.ndarray:
    """gemmlowp SaturatingRoundingDoublingHighMul on int16 values."""
    a = _i64(a)
    b = _i64(b)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 14, 1 - (1 << 14))
    res = _trunc_div(ab + nudge, 1 << 15)
    res = ((res + (1 << 15)) & 0xFFFF) - (1 << 15)  # static_cast<int16_t>
    return np.where((a == -(1 << 15)) & (b == -(1 << 15)), (1 << 15) - 1, res)


def round_half_away_from_zero(x) -> np.ndarray:
    """std::round / TfLiteRound over an array, computed in float64 (exact for float32 inputs)."""
    x = np.asarray(x, dtype=np.float64)
    return np.copysign(np.floor(np.abs(x) + 0.5), x)


def cast_float_to_int32(x) -> np.ndarray:
    """static_cast<int32_t>(float) as compiled for x86-64 (cvttss2si), where the oracle runs:
    truncation toward zero; NaN and values outside the int32 range become INT32_MIN.
    (Undefined behaviour in C: an Arm build saturates instead.) Returns int64 arrays."""
    x = np.asarray(x, dtype=np.float64)
    ok = np.isfinite(x) & (x > INT32_MIN - 1.0) & (x < INT32_MAX + 1.0)
    return np.where(ok, np.trunc(np.where(ok, x, 0.0)), INT32_MIN).astype(np.int64)


# ---------------------------------------------------------------- fast int8 requantization
# (appended by the conv/FC/pooling work)


_REQUANT_CHUNK = 1 << 16  # elements per block: keeps the int64 scratch arrays in cache


def requantize_to_int8(acc, multiplier, shift, output_zero_point: int, act_min: int, act_max: int,
                       bias=None, wrap: bool = False) -> np.ndarray:
    """(acc + bias) -> MultiplyByQuantizedMultiplier -> + output_zero_point -> clamp -> int8.

    This is how TFLM's int8 conv / depthwise / fully-connected kernels end. `acc` holds the
    accumulators: any integer dtype, or a float dtype holding exact integers (the result of
    a float matmul of int8 data). `bias` (optional, int64, broadcasts against the last axis)
    is added in int64; with wrap=True the sum is then wrapped to int32 as C's int32
    accumulator would. `multiplier`/`shift` are scalars or per-channel arrays broadcasting
    against the last axis (TFLM convention: shift > 0 is a left shift).

    Bit-identical to `multiply_by_quantized_multiplier` followed by the offset and clamp,
    written for speed on large batches (blocks that stay in cache, in-place ufuncs):
    the gemmlowp nudge + truncating division of SaturatingRoundingDoublingHighMul equals
    `(x*M + 2^30) >> 31` with an arithmetic shift (its saturating case needs
    M == INT32_MIN, which QuantizeMultiplier never produces), and RoundingDivideByPOT by
    r >= 1 equals `(y + 2^(r-1) + (y >> 63)) >> r`.
    """
    acc = np.asarray(acc)
    shape = acc.shape
    m = np.asarray(multiplier, dtype=np.int64)
    s = np.asarray(shift, dtype=np.int64)
    width = shape[-1] if acc.ndim else 1
    flat = acc.reshape(-1, width)
    rows = flat.shape[0]
    out = np.empty((rows, width), dtype=np.int8)
    left = np.maximum(s, 0)
    r = np.maximum(-s, 0)
    any_left = bool(np.any(left > 0))
    all_r_pos = bool(np.all(r > 0))
    no_r = bool(np.all(r == 0))
    half = (np.int64(1) << r) >> 1
    bias_arr = None if bias is None else np.asarray(bias, dtype=np.int64)
    step = max(1, _REQUANT_CHUNK // max(width, 1))
    x_buf = np.empty((min(step, rows), width), dtype=np.int64)
    t_buf = np.empty_like(x_buf)
    zp, lo, hi = int(output_zero_point), int(act_min), int(act_max)
    for i in range(0, rows, step):
        a = flat[i : i + step]
        n = a.shape[0]
        x, t = x_buf[:n], t_buf[:n]
        np.copyto(x, a, casting="unsafe")
        if bias_arr is not None:
            x += bias_arr
        if wrap:
            x[...] = wrap_int32(x)
        if any_left:
            x <<= left
            x[...] = wrap_int32(x)
        x *= m
        x += 1 << 30
        x >>= 31
        if all_r_pos:
            np.right_shift(x, 63, out=t)
            x += t
            x += half
            x >>= r
        elif not no_r:  # per-channel shifts, some with r == 0: the general formula
            x[...] = rounding_divide_by_pot(x, r)
        x += zp
        np.clip(x, lo, hi, out=x)
        np.copyto(out[i : i + n], x, casting="unsafe")
    return out.reshape(shape)
