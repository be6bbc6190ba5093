/*
 * A toy implementation of tg_app.h for the protocol's host-built tests.
 *
 * One int8 input [1, 10, 10, 30] (3000 bytes), one int8 output [1, 4100]:
 *     output[i] = saturate(input[i % 3000] + 1)
 * Three fake layers: 0 = saturate(input + 1) (3000 bytes), 1 = the output,
 * 2 = not kept (tg_app_layer_output returns NULL). Layer cycles are fixed
 * (layer 2 exceeds 32 bits). tg_app_invoke fails with 7 when the first two
 * input bytes are both -128, and clobbers the input buffer (like arena reuse).
 */
#include "tg_app.h"

#include <stddef.h>
#include <string.h>

#define IN_BYTES 3000
#define OUT_BYTES 4100

static int8_t g_input[IN_BYTES];
static int8_t g_layer0[IN_BYTES];
static int8_t g_output[OUT_BYTES];

static const uint8_t g_sha[32] = {
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
};

static const tg_app_model_info_t g_info = {
    "toy", "host", "test-0", g_sha, 1000000u, 8192u,
};

static const tg_app_tensor_info_t g_in_info = {
    TG_DTYPE_INT8, 4, {1, 10, 10, 30, 0, 0}, 0.5f, -3,
};

static const tg_app_tensor_info_t g_out_info = {
    TG_DTYPE_INT8, 2, {1, OUT_BYTES, 0, 0, 0, 0}, 0.25f, 7,
};

static const uint64_t g_layer_cycles[3] = {6000u, 12300u, 12345678901ull};

const tg_app_model_info_t *tg_app_model_info(void) { return &g_info; }
int tg_app_num_inputs(void) { return 1; }
int tg_app_num_outputs(void) { return 1; }
const tg_app_tensor_info_t *tg_app_input_info(int i) { return i == 0 ? &g_in_info : NULL; }
const tg_app_tensor_info_t *tg_app_output_info(int i) { return i == 0 ? &g_out_info : NULL; }
int tg_app_input_bytes(int i) { return i == 0 ? IN_BYTES : 0; }
int8_t *tg_app_input_buffer(int i) { return i == 0 ? g_input : NULL; }
int tg_app_output_bytes(int i) { return i == 0 ? OUT_BYTES : 0; }
const int8_t *tg_app_output_buffer(int i) { return i == 0 ? g_output : NULL; }

static int8_t sat_inc(int8_t v) { return (int8_t)(v == 127 ? 127 : v + 1); }

int tg_app_invoke(uint64_t *cycles)
{
    int i;
    if (g_input[0] == -128 && g_input[1] == -128)
        return 7;
    for (i = 0; i < IN_BYTES; i++)
        g_layer0[i] = sat_inc(g_input[i]);
    for (i = 0; i < OUT_BYTES; i++)
        g_output[i] = g_layer0[i % IN_BYTES];
    memset(g_input, 0x55, sizeof g_input);
    *cycles = g_layer_cycles[0] + g_layer_cycles[1] + g_layer_cycles[2];
    return 0;
}

/* The toy has no state: RESET_STATE replies with state size 0. */
int tg_app_reset_state(void) { return 0; }

int tg_app_num_layers(void) { return 3; }

uint64_t tg_app_layer_cycles(int k) { return (k >= 0 && k < 3) ? g_layer_cycles[k] : 0; }

const int8_t *tg_app_layer_output(int k, int *bytes)
{
    if (k == 0) {
        *bytes = IN_BYTES;
        return g_layer0;
    }
    if (k == 1) {
        *bytes = OUT_BYTES;
        return g_output;
    }
    *bytes = 0;
    return NULL;
}
