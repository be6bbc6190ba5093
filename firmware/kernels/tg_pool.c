/*
 * AVERAGE_POOL_2D and MAX_POOL_2D, int8 and int16 (TFLM reference_integer_ops::AveragePool /
 * MaxPool): only window taps inside the input count; the average rounds half away from zero with
 * C's truncating division by the number of taps inside (int32 sum); the result is clamped to the
 * fused activation range (input and output share their quantization). One body per op, instantiated
 * for int8_t and int16_t.
 */
#include "tg_kernels.h"
#include "tg_requant.h"

static int32_t tg_max_i32(int32_t a, int32_t b) { return a > b ? a : b; }
static int32_t tg_min_i32(int32_t a, int32_t b) { return a < b ? a : b; }

/* the average: half away from zero, C's truncating division by the taps inside (none: 0) */
static int32_t tg_pool_avg(int32_t acc, int32_t count)
{
    if (count <= 0) {
        return 0;
    }
    return acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
}

static int32_t tg_pool_max(int32_t m, int32_t count)
{
    (void)count;
    return m;
}

static int32_t tg_add_i32(int32_t a, int32_t b) { return a + b; }

/* One pooling body: ACC starts at INIT, takes each tap inside the window as ACC = STEP(ACC, tap), and the
 * output is FINISH(ACC, taps inside), clamped to the activation range. */
#define TG_POOL(NAME, T, INIT, STEP, FINISH)                                                                  \
    void NAME(const tg_pool_params_t *p, const T *input, T *output)                                          \
    {                                                                                                         \
        const int32_t c_n = p->channels;                                                                      \
        int32_t b, oy, ox, c, ky, kx;                                                                         \
        for (b = 0; b < p->batches; b++) {                                                                    \
            const T *in_b = input + (size_t)b * p->in_h * p->in_w * c_n;                                      \
            for (oy = 0; oy < p->out_h; oy++) {                                                               \
                const int32_t y0 = oy * p->stride_h - p->pad_top;                                             \
                const int32_t ky0 = tg_max_i32(0, -y0);                                                       \
                const int32_t ky1 = tg_min_i32(p->k_h, p->in_h - y0);                                         \
                for (ox = 0; ox < p->out_w; ox++) {                                                           \
                    const int32_t x0 = ox * p->stride_w - p->pad_left;                                        \
                    const int32_t kx0 = tg_max_i32(0, -x0);                                                   \
                    const int32_t kx1 = tg_min_i32(p->k_w, p->in_w - x0);                                     \
                    const int32_t count = (ky1 - ky0) * (kx1 - kx0);                                          \
                    for (c = 0; c < c_n; c++) {                                                               \
                        int32_t acc = (INIT);                                                                 \
                        for (ky = ky0; ky < ky1; ky++) {                                                      \
                            const T *row = in_b + ((size_t)(y0 + ky) * p->in_w + (size_t)(x0 + kx0)) * c_n + c; \
                            for (kx = kx0; kx < kx1; kx++, row += c_n) {                                      \
                                acc = STEP(acc, *row);                                                        \
                            }                                                                                 \
                        }                                                                                     \
                        *output++ = (T)tg_clamp(FINISH(acc, count), p->act_min, p->act_max);                  \
                    }                                                                                         \
                }                                                                                             \
            }                                                                                                 \
        }                                                                                                     \
    }

TG_POOL(tg_avgpool_s8, int8_t, 0, tg_add_i32, tg_pool_avg)
TG_POOL(tg_avgpool_s16, int16_t, 0, tg_add_i32, tg_pool_avg)
TG_POOL(tg_maxpool_s8, int8_t, -128, tg_max_i32, tg_pool_max)
TG_POOL(tg_maxpool_s16, int16_t, -32768, tg_max_i32, tg_pool_max)
