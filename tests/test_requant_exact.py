"""The exact DSP requantization (tg_rqx_* in firmware/kernels/tg_requant.h, tg_rqx_t rows from
tinygen.ops.conv.rqx_table) equals TFLM's MultiplyByQuantizedMultiplier (tinygen.model.fixedpoint,
itself checked against tflite_micro by the op tests) for every int32 accumulator:

* property test (hypothesis) of the arithmetic the kernels do (`rqx_apply`, the numpy mirror of
  the SMLAL / BIC / ADD / ASR sequence) on random multipliers with accumulators at the rounding
  boundaries of both roundings, the int32 extremes and random values;
* the C reference `tg_rqx_ref` compiled for the host against the C99 `tg_mbqm`, on millions of
  accumulators per multiplier (the assembly itself runs on QEMU in tests/test_mcu_kernels.py);
* which layers get which kernel variant (`kernel_variant`).
"""
from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygen.model.fixedpoint import multiply_by_quantized_multiplier, quantize_multiplier
from tinygen.ops.conv import (DW_LEFT_ANY, DW_LEFT_NEG, DW_LEFT_POS, DW_PAIR_SMMLAR, DW_PAIR_SMMLAR_FLAG, dw_pair_apply,
                              dw_pair_const_channels, dw_pair_left_kinds, dw_pair_requant, dw_pair_smmlar_ok, dw_rq_rows, dw_smmlar_apply,
                              dw_smmlar_rows, narrow_rq_bound_problem, rqx_apply, rqx_problem, rqx_table, rqxl_apply,
                              rqxl_problem, rqxl_table)

I32_MIN, I32_MAX = -(1 << 31), (1 << 31) - 1


def boundary_accs(m: int, right: int, rng) -> np.ndarray:
    """Accumulators around the points where either rounding changes its result."""
    out = [I32_MIN, I32_MIN + 1, -1, 0, 1, I32_MAX - 1, I32_MAX]
    if m:
        # SRDHM steps where a * m + 2^30 crosses a multiple of 2^31; RDBPOT halves where y = (k + 1/2) * 2^right
        ys = [int(k) * (1 << right) + (1 << (right - 1)) for k in rng.integers(-300, 300, size=40)]
        ys += [int(v) for v in rng.integers(-(1 << 20), 1 << 20, size=20)]
        for y in ys:
            a0 = (y * (1 << 31) - (1 << 30)) // m
            out += [a0 + d for d in range(-2, 3)]
    out += [int(v) for v in rng.integers(I32_MIN, I32_MAX, size=200, endpoint=True)]
    out += [int(v) for v in rng.integers(-(1 << 16), 1 << 16, size=200)]
    a = np.array(out, dtype=np.int64)
    return a[(a >= I32_MIN) & (a <= I32_MAX)]


@settings(max_examples=400, deadline=None)
@given(real=st.one_of(st.floats(1e-10, 0.4999, allow_nan=False), st.sampled_from([2.0 ** -k for k in range(2, 33)])),
       seed=st.integers(0, 2**32 - 1))
def test_rqx_matches_tflm(real, seed):
    m, shift = quantize_multiplier(real)
    if m == 0:
        shift = -1
    assert rqx_problem(np.array([m]), np.array([shift])) is None
    row = rqx_table(np.array([m]), np.array([shift]))[0]
    assert all(I32_MIN <= int(v) <= I32_MAX for v in row)
    acc = boundary_accs(m, -shift if m else 1, np.random.default_rng(seed))
    want = multiply_by_quantized_multiplier(acc, np.array([m]), np.array([shift]))
    got = rqx_apply(acc, row)
    bad = np.flatnonzero(want != got)
    assert bad.size == 0, f"m={m} shift={shift} acc={int(acc[bad[0]])}: exact {int(got[bad[0]])} vs TFLM {int(want[bad[0]])}"


@settings(max_examples=400, deadline=None)
@given(real=st.one_of(st.floats(1e-10, 0.4999, allow_nan=False), st.sampled_from([2.0 ** -k for k in range(2, 33)])),
       zp=st.integers(-128, 127), seed=st.integers(0, 2**32 - 1))
def test_dw_smmlar_matches_tflm(real, zp, seed):
    """The depthwise pair kernel's SMMLAR requantization (TG_DWP_RQ2N on doubled accumulators, the output
    zero point in C) equals TFLM's MultiplyByQuantizedMultiplier + zp for every accumulator its bound admits
    (|a| < 2^30, dw_pair_smmlar_ok), at the rounding boundaries of both roundings; where the bound or C's
    range fails, dw_pair_smmlar_ok refuses the channel."""
    m, shift = quantize_multiplier(real)
    if m == 0:
        shift = -1
    row = dw_smmlar_rows(np.array([m]), np.array([shift]), zp)[0]
    acc = boundary_accs(m, -shift if m else 1, np.random.default_rng(seed))
    acc = np.concatenate([acc, [-(1 << 30) + 1, (1 << 30) - 1, -(1 << 30) + 2, (1 << 30) - 2]])
    inside = np.abs(acc) < (1 << 30)
    ok = dw_pair_smmlar_ok(np.abs(acc[inside]).max(keepdims=True), np.zeros((1, 9)),
                           np.array([[m, 0, 0, -shift - 1 if m else 0]]), zp)[0]
    if not ok:
        assert -shift > 22, (m, shift, zp)  # only long shifts with a zero point too large to fold
        return
    acc = acc[inside]
    want = multiply_by_quantized_multiplier(acc, np.array([m]), np.array([shift])) + zp
    got = dw_smmlar_apply(acc, row)
    bad = np.flatnonzero(want != got)
    assert bad.size == 0, f"m={m} shift={shift} zp={zp} acc={int(acc[bad[0]])}: {int(got[bad[0]])} vs TFLM {int(want[bad[0]])}"


def _pair_channel(rng, style: str, left: bool):
    """Weights (9,) and folded bias of one channel: `style` pos / neg (one sign for every input: all weights and
    the bias of that sign, |bias| >= 128 * sum|w|), any (random signs), near (|bias| just inside or outside the
    bound of a left shift, set by the caller)."""
    w = np.clip(np.round(rng.normal(0, float(rng.choice([3, 20, 60])), size=9)), -127, 127).astype(np.int64)
    if style in ("pos", "neg"):
        w = np.abs(w) * (1 if style == "pos" else -1)
        b = 128 * int(np.abs(w).sum()) + int(rng.integers(1, 1 << int(rng.integers(1, 16))))
        return w, b if style == "pos" else -b
    return w, int(rng.integers(-(1 << int(rng.integers(1, 16 if left else 26))), 1 << 15))


def _pair_accs(w, b, m: int, shift: int, rng) -> np.ndarray:
    """Accumulators a = b + w . x over the int8 inputs' whole range [lo, hi]: its ends, 0 and +-1, random values,
    and the points where TFLM's roundings change (SaturatingRoundingDoublingHighMul ties of a * 2^L * m, and the
    right shifts' RoundingDivideByPOT halves, boundary_accs)."""
    lo = b + int(np.minimum(-128 * w, 127 * w).sum())
    hi = b + int(np.maximum(-128 * w, 127 * w).sum())
    out = [lo, lo + 1, hi - 1, hi, -1, 0, 1] + [int(v) for v in rng.integers(lo, hi, size=300, endpoint=True)]
    out += [b + int(w @ rng.integers(-128, 128, size=9)) for _ in range(100)]
    if m and shift >= 0:
        step = m << shift
        for k in rng.integers(lo * step >> 31, (hi * step >> 31) + 1, size=60):
            a0 = (int(k) * (1 << 31) - (1 << 30)) // step
            out += [a0 + d for d in range(-2, 3)]
    elif m:
        out += [int(v) for v in boundary_accs(m, -shift, rng)]
    a = np.array(out, dtype=np.int64)
    return a[(a >= lo) & (a <= hi)]


@settings(max_examples=400, deadline=None)
@given(real=st.one_of(st.floats(0.5, 2.0 ** 9, allow_nan=False), st.sampled_from([0.5, 0.75, 1.0, 2.0 ** 7, 255.9])),
       rights=st.lists(st.floats(1e-6, 0.4999, allow_nan=False), min_size=3, max_size=3),
       style=st.sampled_from(["pos", "neg", "any", "near"]), where=st.integers(0, 3), zp=st.integers(-128, 127),
       seed=st.integers(0, 2**32 - 1))
def test_dw_pair_left_shift_groups_match_tflm(real, rights, style, where, zp, seed):
    """The pair kernel's group of 4 channels with a left-shift channel (effective scale >= 0.5, TFLM:
    SaturatingRoundingDoublingHighMul(a * 2^L, m), no rounding shift, + zp) and 3 right-shift ones
    (dw_pair_requant): where A = |bias| + 128 * sum|w| satisfies A * 2^(L+1) < 2^31 and the scaled weights stay
    int16, the group is SMMLAR (the left channel's accumulator of one sign for every input: 4 instructions per
    output) or flagged SMMLAR (either sign: 5), and the kernel's arithmetic (dw_pair_apply on the scaled
    accumulator) equals TFLM + zp for every accumulator the channel's inputs can make, at the ends of that range
    and at both roundings' ties; otherwise the group keeps SMLAL and the left channel's row stays a C fix-up row
    (rm1 < 0)."""
    rng = np.random.default_rng(seed)
    ms, shifts = zip(*[quantize_multiplier(r) for r in [real, *rights]])
    ms, shifts = np.array(ms, dtype=np.int64), np.array(shifts, dtype=np.int64)
    ms, shifts = np.roll(ms, where), np.roll(shifts, where)  # the left channel at lane `where`
    chans = [_pair_channel(rng, "any" if style == "near" else style, True)] + [_pair_channel(rng, "any", False)
                                                                               for _ in range(3)]
    chans = chans[-where:] + chans[:-where] if where else chans
    w = np.array([c[0] for c in chans])
    b = np.array([c[1] for c in chans], dtype=np.int64)
    L = int(shifts[where])
    assert L >= 0 and ms[where] > 0
    s = 1 << (L + 1)
    amax = np.abs(b) + 128 * np.abs(w).sum(axis=1)
    if style == "near":  # |bias| at the left channel's bound, one side or the other
        b[where] = int(rng.choice([-1, 1])) * max(0, ((1 << 31) // s) - int(128 * np.abs(w[where]).sum()) +
                                                  int(rng.integers(-2, 2)))
        amax = np.abs(b) + 128 * np.abs(w).sum(axis=1)
    mode, rq, scale = dw_pair_requant(b, w, ms, shifts, zp)
    kinds = dw_pair_left_kinds(b, w, ms, shifts)
    right_ok = dw_pair_smmlar_ok(b, w, dw_rq_rows(ms, shifts), zp)
    fits = amax[where] * s < (1 << 31) and np.abs(w[where]).max() * s < (1 << 15)
    assert bool(kinds[where]) == fits and not kinds[np.arange(4) != where].any()
    const, value = dw_pair_const_channels(b, w, ms, shifts, zp)
    if not (right_ok | const)[np.arange(4) != where].all():
        assert mode[0] not in (DW_PAIR_SMMLAR, DW_PAIR_SMMLAR_FLAG)
        return  # (a right channel beyond its bound: SMLAL)
    if not fits and const[where]:  # beyond the bound but one output for every input: a constant row
        assert mode[0] in (DW_PAIR_SMMLAR, DW_PAIR_SMMLAR_FLAG) and scale[where] == 0
        assert list(rq[where]) == [0, int(value[where]), 0, 0]
        return
    if not fits:
        assert mode[0] not in (DW_PAIR_SMMLAR, DW_PAIR_SMMLAR_FLAG) and rq[where, 3] == -(L + 1)
        return
    lo = b[where] + int(np.minimum(-128 * w[where], 127 * w[where]).sum())
    hi = b[where] + int(np.maximum(-128 * w[where], 127 * w[where]).sum())
    one_sign = lo >= 0 or hi < 0
    assert kinds[where] == (DW_LEFT_POS if lo >= 0 else DW_LEFT_NEG if hi < 0 else DW_LEFT_ANY)
    assert mode[0] == (DW_PAIR_SMMLAR if one_sign else DW_PAIR_SMMLAR_FLAG)
    if style in ("pos", "neg"):
        assert one_sign
    for c in range(4):
        acc = _pair_accs(w[c], int(b[c]), int(ms[c]), int(shifts[c]), rng)
        x = acc * int(scale[c])
        assert np.abs(x).max(initial=0) < (1 << 31)  # the kernel's accumulator does not wrap
        want = np.clip(multiply_by_quantized_multiplier(acc, np.array([ms[c]]), np.array([shifts[c]])) + zp, -128, 127)
        got = np.clip(dw_pair_apply(x, rq[c], int(mode[0])), -128, 127)  # (SSAT)
        bad = np.flatnonzero(want != got)
        assert bad.size == 0, (f"channel {c} (m={int(ms[c])} shift={int(shifts[c])} zp={zp} mode={int(mode[0])}) "
                               f"acc={int(acc[bad[0]])}: {int(got[bad[0]])} vs TFLM {int(want[bad[0]])}")


@settings(max_examples=300, deadline=None)
@given(real=st.one_of(st.floats(1e-10, 4.0, allow_nan=False), st.sampled_from([2.0 ** -k for k in range(20, 33)])),
       log_bias=st.floats(10, 31), at_step=st.booleans(), zp=st.integers(-128, 127), act=st.sampled_from(
           [(-128, 127), (-128, 0), (-5, 127), (-3, 3)]), seed=st.integers(0, 2**32 - 1))
def test_dw_pair_constant_channels_match_tflm(real, log_bias, at_step, zp, act, seed):
    """The pair kernel's constant channels (dw_pair_const_channels: dead channels, stored as weights 0 and the row
    {0, v, 0, 0}): where it says constant, TFLM's clamp(MultiplyByQuantizedMultiplier(a) + zp) is v for every
    accumulator of the channel's range (its ends, random values, the roundings' ties), and a bias at one of the
    output's steps is never called constant; where it says not constant, the range really holds two outputs (or
    could wrap)."""
    rng = np.random.default_rng(seed)
    m, shift = quantize_multiplier(real)
    w = np.clip(np.round(rng.normal(0, float(rng.choice([1, 10, 60])), size=9)), -127, 127).astype(np.int64)
    b = int(rng.choice([-1, 1])) * int(min(2 ** log_bias, 2 ** 31 - 1))
    if at_step and m and shift < 0:  # a bias where the output steps: a = (k + 1/2) / scale
        b = int(np.clip(round((round(b * real) + 0.5) / real), -(1 << 31), (1 << 31) - 1))
    const, value = dw_pair_const_channels(np.array([b]), w[None], np.array([m]), np.array([shift]), zp, *act)
    acc = _pair_accs(w, b, m, shift, rng)
    acc = acc[(acc >= -(1 << 31)) & (acc < (1 << 31))]
    want = np.clip(multiply_by_quantized_multiplier(acc, np.array([m]), np.array([shift])) + zp, *act)
    if const[0]:
        assert (want == value[0]).all(), (m, shift, b, zp, act)
        got = np.clip(dw_pair_apply(np.zeros_like(acc), [0, int(value[0]), 0, 0], DW_PAIR_SMMLAR), -128, 127)
        assert (np.clip(got, *act) == want).all()
    else:
        lo = b + int(np.minimum(-128 * w, 127 * w).sum())
        hi = b + int(np.maximum(-128 * w, 127 * w).sum())
        ends = np.clip(multiply_by_quantized_multiplier(np.array([max(lo, -(1 << 31)), min(hi, (1 << 31) - 1)]),
                                                        np.array([m]), np.array([shift])) + zp, *act)
        assert ends[0] != ends[1] or lo < -(1 << 31) or hi >= (1 << 31) or shift > 0, (m, shift, b, zp, act)


@settings(max_examples=400, deadline=None)
@given(real=st.one_of(st.floats(1e-10, 0.4999, allow_nan=False), st.sampled_from([2.0 ** -k for k in range(2, 33)])),
       zp=st.integers(-128, 127), log_bound=st.floats(4, 30.5), seed=st.integers(0, 2**32 - 1))
def test_narrow_smmlar_matches_tflm(real, zp, log_bound, seed):
    """The narrow CONV_2D kernel's requantization (TG_NRW_RQ in tg_conv.c: SMMLAR of the doubled accumulator
    with the row {m, 2^(r-1) + zp 2^r, r}, ADD of its sign, ASR) equals TFLM's MultiplyByQuantizedMultiplier + zp
    for every accumulator within the bound narrow_rq_bound_problem accepted, at the rounding boundaries of both
    roundings and the bound itself; where it refuses, the bound or the shift is really out of its range."""
    m, shift = quantize_multiplier(real)
    if m == 0:
        shift = -1
    bound = int(2 ** log_bound)
    problem = narrow_rq_bound_problem(bound, np.array([m]), np.array([shift]), zp)
    if problem is not None:
        r = -shift if m else 1
        assert 2 * bound >= 1 << 31 or r > 30 or bound + (1 << (r - 1)) + abs(zp) * (1 << r) + 1 >= 1 << 31, problem
        return
    row = dw_smmlar_rows(np.array([m]), np.array([shift]), zp)[0]
    acc = boundary_accs(m, -shift if m else 1, np.random.default_rng(seed))
    acc = np.concatenate([acc, [-bound, bound, 1 - bound, bound - 1]])
    acc = acc[np.abs(acc) <= bound]
    want = multiply_by_quantized_multiplier(acc, np.array([m]), np.array([shift])) + zp
    got = dw_smmlar_apply(acc, row)
    bad = np.flatnonzero(want != got)
    assert bad.size == 0, f"m={m} shift={shift} zp={zp} acc={int(acc[bad[0]])}: {int(got[bad[0]])} vs TFLM {int(want[bad[0]])}"


@settings(max_examples=300, deadline=None)
@given(real=st.one_of(st.floats(0.5, 2.0 ** 20, allow_nan=False), st.sampled_from([0.75, 1.0, 1.5, 3.0, 2.0 ** 30])),
       seed=st.integers(0, 2**32 - 1))
def test_rqxl_left_shift_rows_match_tflm(real, seed):
    """CONV_2D's left-shift rows (rqxl_table, tg_conv_pairs_l: LSL, two SMLALs onto 2^31) equal TFLM's
    MultiplyByQuantizedMultiplier for every int32 accumulator, the wrapping left shift included; right-shift
    channels of the same table keep rqx_table's rows."""
    m, shift = quantize_multiplier(real)
    assert shift >= 0
    m2, s2 = quantize_multiplier(0.01)
    ms, shifts = np.array([m, m2]), np.array([shift, s2])
    assert rqx_problem(ms, shifts) is not None and rqxl_problem(ms, shifts) is None
    rows = rqxl_table(ms, shifts)
    assert all(I32_MIN <= int(v) <= I32_MAX for v in rows.reshape(-1))
    assert (rows[1] == rqx_table(np.array([m2]), np.array([s2]))[0]).all() and rows[0][3] == -(shift + 1)
    rng = np.random.default_rng(seed)
    acc = boundary_accs(m, 1, rng)
    # ties of SaturatingRoundingDoublingHighMul after the shift: (acc << L) * m + 2^30 a multiple of 2^31
    t = np.array([((int(k) << 31) - (1 << 30)) // m for k in rng.integers(-(1 << 20), 1 << 20, size=60)], dtype=np.int64)
    acc = np.concatenate([acc, (t >> shift) + rng.integers(-1, 2, size=t.size)])
    acc = acc[(acc >= I32_MIN) & (acc <= I32_MAX)]
    want = multiply_by_quantized_multiplier(acc, np.array([m]), np.array([shift]))
    got = rqxl_apply(acc, rows[0])
    bad = np.flatnonzero(want != got)
    assert bad.size == 0, f"m={m} shift={shift} acc={int(acc[bad[0]])}: {int(got[bad[0]])} vs TFLM {int(want[bad[0]])}"


def test_rqx_problem_names_left_shifts():
    m, s = quantize_multiplier(1.7)
    assert s >= 0
    assert "left shift" in rqx_problem(np.array([m, m]), np.array([-3, s]))
    assert rqx_problem(np.array([0]), np.array([0])) is None  # a zero multiplier: output = zero point
    assert rqx_table(np.array([0]), np.array([0]))[0][3] == 0


C_TEST = r"""
#include <stdio.h>
#include <stdlib.h>
#include "tg_requant.h"
static uint64_t st = 88172645463325252ull;
static uint32_t rnd(void) { st ^= st << 13; st ^= st >> 7; st ^= st << 17; return (uint32_t)st; }
int main(int argc, char **argv)
{
    long n = atol(argv[1]), bad = 0, i;
    int32_t m, klo, khi, rm1, acc;
    while (scanf("%d %d %d %d", &m, &klo, &khi, &rm1) == 4) {
        for (i = 0; i < n; i++) {
            const uint32_t r = rnd();
            /* a third full-range, a third small, a third near the int32 extremes */
            acc = (int32_t)(i % 3 == 0 ? r : i % 3 == 1 ? (uint32_t)((int32_t)r >> 12) : (r & 1 ? 0x80000000u + (r >> 24) : 0x7fffffffu - (r >> 24)));
            if (tg_rqx_ref(acc, m, klo, khi, rm1) != tg_mbqm(acc, m, -(rm1 + 1))) {
                if (bad++ < 5) printf("m=%d rm1=%d acc=%d: %d vs %d\n", m, rm1, acc, tg_rqx_ref(acc, m, klo, khi, rm1), tg_mbqm(acc, m, -(rm1 + 1)));
            }
        }
    }
    printf("bad %ld\n", bad);
    return bad != 0;
}
"""


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a host C compiler")
def test_c_reference_matches_tg_mbqm(tmp_path):
    from tinygen.codegen.generator import kernels_dir

    src = tmp_path / "t.c"
    src.write_text(C_TEST)
    exe = tmp_path / "t"
    subprocess.run(["cc", "-std=c99", "-O2", "-Wall", "-Werror", f"-I{kernels_dir()}", str(src), "-o", str(exe)], check=True)
    rng = np.random.default_rng(7)
    reals = list(rng.uniform(1e-6, 0.5, size=40)) + list(10.0 ** rng.uniform(-9, -6, size=10)) + [2.0 ** -k for k in (2, 3, 15, 31, 32)]
    ms, shifts = zip(*(quantize_multiplier(float(r)) for r in reals))
    rows = rqx_table(np.array(ms), np.array(shifts))
    stdin = "\n".join(" ".join(str(int(v)) for v in r) for r in rows)
    p = subprocess.run([str(exe), "40000"], input=stdin, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), taps=st.integers(1, 700), oc=st.integers(2, 7))
def test_packed_channel_pairs_recover_both_channels(seed, taps, oc):
    """CONV_2D's packed channel pairs (pack_conv_pairs, tg_conv.c TG_PPAIR_STEP): SMLAD of each weight word
    against a pixel's (x0, x2) / (x1, x3) tap pairs accumulates 256 * odd + even, SXTB16 of the word the even
    channel alone; (mix - even) >> 8 + the odd bias is the odd channel's accumulator, with int32 wrap-around
    like TFLM's, whenever _pack_ok_weights holds (weights up to the bound, inputs at the int8 extremes)."""
    from tinygen.ops.conv import _pack_ok_weights, pack_conv_pairs

    rng = np.random.default_rng(seed)
    lim = max(1, min(127, ((1 << 23) // 128 - 1) // taps))  # the largest |w| with 128 * taps * |w| < 2^23
    w = rng.integers(-lim, lim + 1, size=(oc, taps))
    w[rng.random(oc) < 0.3] = rng.choice([-lim, lim])  # channels at the bound
    assert _pack_ok_weights(w.astype(np.int8))
    w_row = -(-taps // 4) * 4
    packed = pack_conv_pairs(w.astype(np.int8), w_row).view(np.int16).astype(np.int64)  # (pair blocks, 2 * w_row / 2)
    x = np.zeros(w_row, dtype=np.int64)
    x[:taps] = rng.choice([-128, 127, 0, 5], size=taps) if rng.random() < 0.5 else rng.integers(-128, 128, size=taps)
    bias = rng.integers(-(1 << 31), 1 << 31, size=oc)
    pairs = [(2 * q, 2 * q + 1) for q in range(oc // 2)] + ([(oc - 2, oc - 1)] if oc % 2 else [])

    def wrap(v):
        return (int(v) + (1 << 31)) % (1 << 32) - (1 << 31)

    for blk, (ev, od) in enumerate(pairs):
        h = packed[blk].reshape(-1, 2, 2)  # [group][word: (t0, t2) / (t1, t3)][half]
        lo = ((h & 0xFF) ^ 0x80) - 0x80  # SXTB16: the low byte of each half, sign-extended
        xg = x.reshape(-1, 4)[:, [0, 2, 1, 3]].reshape(-1, 2, 2)
        mix = wrap(bias[ev] + int((h * xg).sum()))
        even = wrap(bias[ev] + int((lo * xg).sum()))
        odd = wrap(bias[od] + (wrap(mix - even) >> 8))
        assert even == wrap(bias[ev] + int(w[ev] @ x[:taps]))
        assert odd == wrap(bias[od] + int(w[od] @ x[:taps])), (blk, ev, od)
