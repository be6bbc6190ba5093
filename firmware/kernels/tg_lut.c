/* Table-driven unary int8 ops (LOGISTIC, TANH, RELU, RELU6, LEAKY_RELU, HARD_SWISH,
 * int8 -> int8 QUANTIZE): the generator computes the 256 outputs in Python. */
#include "tg_kernels.h"

void tg_lut_s8(const int8_t *input, int8_t *output, int32_t size, const int8_t *table)
{
    int32_t i;
    for (i = 0; i < size; i++) {
        output[i] = table[(int32_t)input[i] + 128];
    }
}
