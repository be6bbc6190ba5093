"""Stage 1, the model: the .tflite reader (the only flatbuffer code), the Graph every later stage
consumes, TFLM's fixed-point math, and post-training quantization. Imports nothing else of tinygen but errors."""
