/*
 * The application interface served by the serial protocol (tg_proto.c).
 *
 * Implemented by the generated model code (and by firmware/tests/proto_host_app.c
 * for the protocol's own tests). Tensor indices start at 0; the protocol never
 * calls with an index outside [0, tg_app_num_inputs()) / [0, tg_app_num_outputs())
 * / [0, tg_app_num_layers()).
 */
#ifndef TG_APP_H
#define TG_APP_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TG_APP_MAX_DIMS 6

/* TFLite TensorType codes (schema.fbs), as reported by INFO. */
#define TG_DTYPE_FLOAT32 0
#define TG_DTYPE_INT32 2
#define TG_DTYPE_UINT8 3
#define TG_DTYPE_INT16 7
#define TG_DTYPE_INT8 9

typedef struct {
    const char *model_name;     /* e.g. the .tflite file stem */
    const char *board_name;     /* boards/<name>.toml */
    const char *fw_version;     /* tinygen version that generated the firmware */
    const uint8_t *sha256;      /* 32 bytes: SHA-256 of the .tflite file */
    uint32_t clock_hz;          /* core clock the cycle counts refer to */
    uint32_t arena_bytes;       /* tensor arena size */
} tg_app_model_info_t;

typedef struct {
    uint8_t dtype;              /* TG_DTYPE_* */
    uint8_t ndim;               /* <= TG_APP_MAX_DIMS */
    int32_t dims[TG_APP_MAX_DIMS];
    float scale;                /* per-tensor quantization (0 if none) */
    int32_t zero_point;
} tg_app_tensor_info_t;

const tg_app_model_info_t *tg_app_model_info(void);

int tg_app_num_inputs(void);
int tg_app_num_outputs(void);
const tg_app_tensor_info_t *tg_app_input_info(int i);
const tg_app_tensor_info_t *tg_app_output_info(int i);

/* Buffers of the input / output tensors (inside the arena). */
int tg_app_input_bytes(int i);
int8_t *tg_app_input_buffer(int i);
int tg_app_output_bytes(int i);
const int8_t *tg_app_output_buffer(int i);

/* Runs the model on the current input buffers. Returns 0 on success; *cycles
 * receives the cycle count of the whole inference. The input buffers may be
 * overwritten (arena reuse): the protocol requires a fresh input before the
 * next run. */
int tg_app_invoke(uint64_t *cycles);

/* Resets the model's state (variable tensors: recurrent state, e.g. LSTM or SVDF) to its reset
 * values, so that the next tg_app_invoke starts a new sequence; returns the state's size in
 * bytes (0: the model has no state). Between resets the state carries from invoke to invoke. */
int tg_app_reset_state(void);

/* Per-layer results of the last inference. tg_app_layer_output returns NULL
 * when the layer's output is not kept (e.g. its arena space was reused). */
int tg_app_num_layers(void);
uint64_t tg_app_layer_cycles(int k);
const int8_t *tg_app_layer_output(int k, int *bytes);

#ifdef __cplusplus
}
#endif

#endif /* TG_APP_H */
