/* RESIZE_NEAREST_NEIGHBOR: every output pixel is a copy of one input pixel. The source rows and
 * columns (TFLM's GetNearestNeighbor, float32) are computed by the generator into in_y / in_x. */
#include <string.h>

#include "tg_kernels.h"

void tg_resize_nearest(const tg_resize_params_t *p, const int8_t *input, int8_t *output)
{
    int32_t b, y, x;
    const size_t pix = (size_t)p->pixel_bytes;
    const size_t row = (size_t)p->in_w * pix;
    for (b = 0; b < p->batches; b++) {
        const int8_t *image = input + (size_t)b * (size_t)p->in_h * row;
        for (y = 0; y < p->out_h; y++) {
            const int8_t *src_row = image + (size_t)p->in_y[y] * row;
            if (y > 0 && p->in_y[y] == p->in_y[y - 1]) { /* same source row: copy the output row above */
                memcpy(output, output - (size_t)p->out_w * pix, (size_t)p->out_w * pix);
                output += (size_t)p->out_w * pix;
                continue;
            }
            for (x = 0; x < p->out_w; x++) {
                memcpy(output, src_row + (size_t)p->in_x[x] * pix, pix);
                output += pix;
            }
        }
    }
}

void tg_resize_bilinear_s8(const tg_bilinear_params_t *p, const int8_t *input, int8_t *output)
{
    int32_t b, y, x, c;
    const size_t row = (size_t)p->in_w * (size_t)p->channels;
    for (b = 0; b < p->batches; b++) {
        const int8_t *image = input + (size_t)b * (size_t)p->in_h * row;
        for (y = 0; y < p->out_h; y++) {
            const int8_t *r0 = image + (size_t)p->y0[y] * row;
            const int8_t *r1 = image + (size_t)p->y1[y] * row;
            const int64_t dy = p->dy[y];
            for (x = 0; x < p->out_w; x++) {
                const int8_t *ll = r0 + (size_t)p->x0[x] * p->channels, *rl = r0 + (size_t)p->x1[x] * p->channels;
                const int8_t *lu = r1 + (size_t)p->x0[x] * p->channels, *ru = r1 + (size_t)p->x1[x] * p->channels;
                const int64_t dx = p->dx[x];
                const int64_t wll = (1024 - dy) * (1024 - dx), wlu = dy * (1024 - dx);
                const int64_t wrl = (1024 - dy) * dx, wru = dy * dx;
                for (c = 0; c < p->channels; c++) {
                    const int64_t acc = ll[c] * wll + lu[c] * wlu + rl[c] * wrl + ru[c] * wru;
                    const int64_t q = (acc + (acc > 0 ? (1 << 19) : -(1 << 19))) / (1 << 20);
                    *output++ = (int8_t)(uint8_t)(uint64_t)q; /* wraps like TFLM's static_cast */
                }
            }
        }
    }
}
