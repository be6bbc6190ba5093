/*
 * tg_app.h (the interface the serial protocol serves) implemented over a model written
 * by tinygen's code generator. Everything model-specific comes from tg_fw_config.h,
 * which the project writer (tinygen/project.py) renders next to the generated
 * NAME_model.h. Compile the whole firmware with -DTG_LAYER_TIMING -DTG_LAYER_OUTPUT.
 *
 * - Inputs and outputs live in the model's arena (NAME_input_buffer/NAME_output_buffer):
 *   no extra RAM; an inference overwrites its inputs, as tg_app.h allows.
 * - Per-layer cycles: tg_on_layer() hooks around every op (layer k = op index k).
 * - Per-layer outputs: a layer whose arena bytes no later op overwrites ("kept", known
 *   from the memory plan) is read in place. The others, when TG_FW_CAPTURE_BYTES > 0:
 *   tg_app_invoke() saves the inputs, and asking for such a layer re-runs the model on
 *   them and copies that layer's output into a capture buffer as it goes by. The re-run
 *   leaves the arena exactly as the first run did (a model with state: the state is saved before
 *   each run and restored before the re-run). Without capture space those layers read as
 *   unavailable (NULL).
 * - State (recurrent variable tensors): the model is generated stateful, so its state carries from
 *   run to run; tg_app_reset_state() (the protocol's RESET_STATE) starts a new sequence. The
 *   first run after boot starts from the reset state.
 */
#include <stddef.h>
#include <string.h>

#include "tg_app.h"
#include "tg_fw_config.h"
#include "tg_port.h"

#if TG_FW_NUM_LAYERS > 0
#define TG_FW_LAYER_SLOTS TG_FW_NUM_LAYERS
#else
#define TG_FW_LAYER_SLOTS 1
#endif

static const uint8_t s_sha256[32] = TG_FW_SHA256_BYTES;

static const tg_app_model_info_t s_info = {
    TG_FW_MODEL_NAME, TG_BOARD_ID, TG_FW_VERSION, s_sha256, TG_CLOCK_HZ, TG_FW_ARENA_BYTES,
};

static const tg_app_tensor_info_t s_inputs[TG_FW_NUM_INPUTS] = TG_FW_INPUT_INFO_LIST;
static const tg_app_tensor_info_t s_outputs[TG_FW_NUM_OUTPUTS] = TG_FW_OUTPUT_INFO_LIST;
static const int32_t s_input_bytes[TG_FW_NUM_INPUTS] = TG_FW_INPUT_BYTES_LIST;
static const int32_t s_output_bytes[TG_FW_NUM_OUTPUTS] = TG_FW_OUTPUT_BYTES_LIST;
static const uint8_t s_layer_kept[TG_FW_LAYER_SLOTS] = TG_FW_LAYER_KEPT_LIST;

static uint64_t s_layer_cycles[TG_FW_LAYER_SLOTS];
static const int8_t *s_layer_ptr[TG_FW_LAYER_SLOTS];
static int32_t s_layer_bytes[TG_FW_LAYER_SLOTS];
static uint64_t s_layer_start;
static int s_timing = 1;        /* 0 while re-running for a capture */
static int s_ran = 0;

#if TG_FW_STATE_BYTES > 0
static int s_state_started = 0;    /* the state has been reset since boot */
#if TG_FW_CAPTURE_BYTES > 0
static uint8_t s_saved_state[TG_FW_STATE_BYTES];   /* the state before the last run */
#endif
#endif

#if TG_FW_CAPTURE_BYTES > 0
static int8_t s_saved_inputs[TG_FW_SAVE_BYTES];
static int8_t s_capture[TG_FW_CAPTURE_BYTES];
static int s_capture_layer = -1;   /* layer to copy during a re-run */
static int s_captured = -1;        /* layer held in s_capture */
#endif

/* ---- hooks called by the generated NAME_run() ---- */
void tg_on_layer(int op_index, const char *op_name)
{
    uint64_t now = tg_cycles();
    if (!s_timing || op_index < 0 || op_index >= TG_FW_NUM_LAYERS) {
        return;
    }
    if (op_name != NULL) {
        s_layer_start = now;
    } else {
        s_layer_cycles[op_index] = now - s_layer_start;
    }
}

void tg_on_layer_output(int op_index, const int8_t *data, int bytes)
{
    if (op_index < 0 || op_index >= TG_FW_NUM_LAYERS) {
        return;
    }
#if defined(TG_TEST_CORRUPT_LAYER)
    /* Test builds only (tests/test_validate.py): damage layer TG_TEST_CORRUPT_LAYER's output
     * every time it is produced, so that `tinygen validate --per-layer` has a fault to find. */
    if (op_index == TG_TEST_CORRUPT_LAYER) {
        int i;
        for (i = 0; i < bytes; i++) {
            ((int8_t *)(uintptr_t)data)[i] ^= 0x5A;
        }
    }
#endif
#if TG_FW_CAPTURE_BYTES > 0
    if (op_index == s_capture_layer) {
        if (bytes <= TG_FW_CAPTURE_BYTES) {
            memcpy(s_capture, data, (size_t)bytes);
            s_layer_bytes[op_index] = bytes;
            s_captured = op_index;
        }
        s_capture_layer = -1;        /* first output of the op only */
        return;
    }
#endif
    if (s_timing && s_layer_ptr[op_index] == NULL) {   /* first output of the op */
        s_layer_ptr[op_index] = data;
        s_layer_bytes[op_index] = bytes;
    }
}

/* ---- tg_app.h ---- */
const tg_app_model_info_t *tg_app_model_info(void) { return &s_info; }
int tg_app_num_inputs(void) { return TG_FW_NUM_INPUTS; }
int tg_app_num_outputs(void) { return TG_FW_NUM_OUTPUTS; }
int tg_app_num_layers(void) { return TG_FW_NUM_LAYERS; }

const tg_app_tensor_info_t *tg_app_input_info(int i)
{
    return (i >= 0 && i < TG_FW_NUM_INPUTS) ? &s_inputs[i] : NULL;
}

const tg_app_tensor_info_t *tg_app_output_info(int i)
{
    return (i >= 0 && i < TG_FW_NUM_OUTPUTS) ? &s_outputs[i] : NULL;
}

int tg_app_input_bytes(int i) { return (i >= 0 && i < TG_FW_NUM_INPUTS) ? (int)s_input_bytes[i] : 0; }
int tg_app_output_bytes(int i) { return (i >= 0 && i < TG_FW_NUM_OUTPUTS) ? (int)s_output_bytes[i] : 0; }

int8_t *tg_app_input_buffer(int i)
{
    return (i >= 0 && i < TG_FW_NUM_INPUTS) ? (int8_t *)TG_FW_INPUT_BUFFER(i) : NULL;
}

const int8_t *tg_app_output_buffer(int i)
{
    return (i >= 0 && i < TG_FW_NUM_OUTPUTS) ? (const int8_t *)TG_FW_OUTPUT_BUFFER(i) : NULL;
}

#if TG_FW_CAPTURE_BYTES > 0
static void copy_inputs(int save)
{
    int i;
    size_t off = 0u;
    for (i = 0; i < TG_FW_NUM_INPUTS; i++) {
        int8_t *buf = (int8_t *)TG_FW_INPUT_BUFFER(i);
        if (save) {
            memcpy(&s_saved_inputs[off], buf, (size_t)s_input_bytes[i]);
        } else {
            memcpy(buf, &s_saved_inputs[off], (size_t)s_input_bytes[i]);
        }
        off += (size_t)s_input_bytes[i];
    }
}
#endif

int tg_app_invoke(uint64_t *cycles)
{
    int k, rc;
    uint64_t t0;
    for (k = 0; k < TG_FW_NUM_LAYERS; k++) {
        s_layer_cycles[k] = 0u;
        s_layer_ptr[k] = NULL;
        s_layer_bytes[k] = 0;
    }
#if TG_FW_STATE_BYTES > 0
    if (!s_state_started) {
        TG_FW_RESET_STATE();
        s_state_started = 1;
    }
#if TG_FW_CAPTURE_BYTES > 0
    TG_FW_STATE_COPY(s_saved_state, 1);
#endif
#endif
#if TG_FW_CAPTURE_BYTES > 0
    copy_inputs(1);
    s_captured = -1;
    s_capture_layer = -1;
#endif
    s_timing = 1;
    t0 = tg_cycles();
    rc = TG_FW_RUN();
    *cycles = tg_cycles() - t0;
    s_ran = rc == 0;
    return rc;
}

int tg_app_reset_state(void)
{
    TG_FW_RESET_STATE();
#if TG_FW_STATE_BYTES > 0
    s_state_started = 1;
    s_ran = 0;          /* the last run's layers can no longer be re-run from its state */
#endif
    return TG_FW_STATE_BYTES;
}

uint64_t tg_app_layer_cycles(int k)
{
    return (k >= 0 && k < TG_FW_NUM_LAYERS) ? s_layer_cycles[k] : 0u;
}

const int8_t *tg_app_layer_output(int k, int *bytes)
{
    *bytes = 0;
    if (!s_ran || k < 0 || k >= TG_FW_NUM_LAYERS) {
        return NULL;
    }
    if (s_layer_kept[k] && s_layer_ptr[k] != NULL) {
        *bytes = (int)s_layer_bytes[k];
        return s_layer_ptr[k];
    }
#if TG_FW_CAPTURE_BYTES > 0
    if (s_captured != k) {
        copy_inputs(0);
#if TG_FW_STATE_BYTES > 0
        TG_FW_STATE_COPY(s_saved_state, 0);   /* the re-run starts from the same state */
#endif
        s_capture_layer = k;
        s_timing = 0;
        (void)TG_FW_RUN();          /* same inputs, same arena contents afterwards */
        s_timing = 1;
        s_capture_layer = -1;
    }
    if (s_captured == k) {
        *bytes = (int)s_layer_bytes[k];
        return s_capture;
    }
#endif
    return NULL;
}
