"""Full-integer post-training quantization of a float Keras model or SavedModel.

`quantize_model(model_path, calibration)` converts a float model to an int8
.tflite (int8 weights and activations; int8 input and output unless
``io="float"``), or with ``activations="int16"`` to a 16x8 one (int16 activations and
integer I/O, int8 weights, int64 biases: TensorFlow's
EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8), with the calibration samples as the representative dataset,
then runs the float model and the int8 model (on the TFLite Micro reference
interpreter, tinygen's oracle) over the same samples and reports how far
apart they are.

The command-line wrapper lives with the CLI; this module only exposes the
function and `QuantizeReport` (`to_dict()`, `summary_lines()`).

TensorFlow is imported lazily, inside `quantize_model`.
"""
from __future__ import annotations

import contextlib
import io as _io
import os
import warnings
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from tinygen.errors import TinygenError

IO_MODES = ("int8", "float")
ACTIVATION_TYPES = ("int8", "int16")

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


class QuantizeError(TinygenError):
    """The source model cannot be quantized (missing, not a Keras model or SavedModel, ...)."""


class CalibrationError(QuantizeError):
    """The calibration data is missing, unreadable or does not fit the model's input."""


@dataclass
class QuantizeReport:
    """How the int8 model compares with the float model on the calibration data.

    Errors are between the float model's outputs and the int8 model's outputs
    dequantized to real values. `top1_agreement` is the fraction of argmaxes
    (over the output's last axis) on which both models agree; it is trivially
    1.0 for an output whose last axis has a single element.
    """

    samples: int
    io: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    input_dtype: str
    output_dtype: str
    model_bytes: int
    top1_agreement: float
    max_abs_error: float
    mean_abs_error: float
    output_range: float  # max - min of the float model's outputs, to judge the errors against
    activations: str = "int8"  # "int16": a 16x8 model

    def to_dict(self) -> dict:
        d = asdict(self)
        d["input_shape"] = list(self.input_shape)
        d["output_shape"] = list(self.output_shape)
        return d

    def summary_lines(self) -> list[str]:
        return [
            f"model: {self.model_bytes} bytes, input {self.input_dtype}{list(self.input_shape)}, "
            f"output {self.output_dtype}{list(self.output_shape)}",
            f"calibration samples: {self.samples}",
            f"float vs {'16x8' if self.activations == 'int16' else 'int8'} top-1 agreement: {self.top1_agreement:.2%}",
            f"max abs error: {self.max_abs_error:.6g}  mean abs error: {self.mean_abs_error:.6g}"
            f"  (float output range {self.output_range:.6g})",
        ]


ProgressFn = Callable[[int, int], None]


def quantize_model(
    model_path,
    calibration,
    io: str = "int8",
    progress: ProgressFn | None = None,
    activations: str = "int8",
) -> tuple[bytes, QuantizeReport]:
    """Quantize a float model to a full-int8 .tflite; return (tflite bytes, report).

    model_path: a Keras file (.keras or .h5) or a SavedModel directory, with one
      float input of fixed shape (apart from the batch axis) and one output.
    calibration: float samples ``[N, *input_shape]`` (or ``[N, 1, *input_shape]``),
      as an array or the path of a .npy file.
    io: "int8" (default) for integer input and output (int16 with int16 activations), "float" to
      keep float32 I/O.
    activations: "int8" (default), or "int16" for a 16x8 model.
    progress: called as ``progress(i, n)`` after each calibration sample is fed
      to the converter (i = 1..n).
    """
    if io not in IO_MODES:
        raise QuantizeError(f"io must be one of {', '.join(IO_MODES)}, not {io!r}")
    if activations not in ACTIVATION_TYPES:
        raise QuantizeError(f"activations must be one of {', '.join(ACTIVATION_TYPES)}, not {activations!r}")
    path = Path(model_path)
    kind = _model_kind(path)
    raw_calibration = _load_calibration(calibration)

    tf, keras = _import_tf()
    if kind == "keras":
        source = _KerasSource(path, tf, keras)
    else:
        source = _SavedModelSource(path, tf)
    samples = _fit_calibration(raw_calibration, source.input_shape)

    data = _convert(tf, source, samples, io, progress, activations)
    float_out = source.run_float(samples)
    int8_out, in_dtype, out_dtype = _run_oracle(data, samples)
    float_out = float_out.reshape(int8_out.shape)

    diff = np.abs(float_out.astype(np.float64) - int8_out.astype(np.float64))
    if float_out.shape[-1] > 1:
        agree = float(np.mean(np.argmax(float_out, axis=-1) == np.argmax(int8_out, axis=-1)))
    else:
        agree = 1.0
    report = QuantizeReport(
        samples=len(samples),
        io=io,
        input_shape=(1, *source.input_shape),
        output_shape=tuple(int8_out.shape[1:]),
        input_dtype=in_dtype,
        output_dtype=out_dtype,
        model_bytes=len(data),
        top1_agreement=agree,
        max_abs_error=float(diff.max()),
        mean_abs_error=float(diff.mean()),
        output_range=float(float_out.max() - float_out.min()),
        activations=activations,
    )
    return data, report


# ------------------------------------------------------------------ checks


def _model_kind(path: Path) -> str:
    if not path.exists():
        raise QuantizeError(f"model not found: {path}")
    if path.is_dir():
        if (path / "saved_model.pb").is_file() or (path / "saved_model.pbtxt").is_file():
            return "savedmodel"
        raise QuantizeError(f"{path} is a directory but not a SavedModel (no saved_model.pb)")
    suffix = path.suffix.lower()
    if suffix == ".keras":
        if not zipfile.is_zipfile(path):
            raise QuantizeError(f"{path} is not a Keras model file (.keras is not a zip archive)")
        return "keras"
    if suffix in (".h5", ".hdf5"):
        with open(path, "rb") as f:
            if f.read(8) != _HDF5_MAGIC:
                raise QuantizeError(f"{path} is not a Keras model file (not HDF5)")
        return "keras"
    if suffix == ".tflite":
        raise QuantizeError(f"{path} is already a .tflite model; quantize needs a float Keras model or SavedModel")
    raise QuantizeError(f"{path} is not a Keras model (.keras, .h5) or a SavedModel directory")


def _load_calibration(calibration) -> np.ndarray:
    if isinstance(calibration, (str, os.PathLike)):
        cpath = Path(calibration)
        if not cpath.is_file():
            raise CalibrationError(f"calibration file not found: {cpath}")
        if cpath.suffix.lower() != ".npy":
            raise CalibrationError(f"calibration must be a .npy file, not {cpath.name}")
        try:
            calibration = np.load(cpath, allow_pickle=False)
        except Exception as e:  # noqa: BLE001 - any read failure is a bad file
            raise CalibrationError(f"cannot read calibration {cpath}: {_first_line(e)}") from None
    if not isinstance(calibration, np.ndarray):
        raise CalibrationError(f"calibration must be a numpy array or a .npy path, not {type(calibration).__name__}")
    if calibration.dtype.kind not in "fiub":
        raise CalibrationError(f"calibration must hold numbers, not {calibration.dtype}")
    return calibration


def _fit_calibration(cal: np.ndarray, input_shape: tuple[int, ...]) -> np.ndarray:
    """Return float32 samples [N, *input_shape] (batch axis of 1 removed if present)."""
    want = tuple(input_shape)
    if cal.ndim >= 1 and cal.shape[0] == 0:
        raise CalibrationError("calibration has no samples (need at least 1)")
    if cal.shape[1:] == want:
        out = cal
    elif cal.shape[1:] == (1, *want):
        out = cal.reshape((cal.shape[0], *want))
    else:
        raise CalibrationError(
            f"calibration shape {tuple(cal.shape)} does not fit the model input: "
            f"expected (N, {', '.join(map(str, want))})"
        )
    out = out.astype(np.float32)
    if not np.all(np.isfinite(out)):
        raise CalibrationError("calibration contains NaN or infinite values")
    return out


def _first_line(e: BaseException) -> str:
    text = str(e).strip() or type(e).__name__
    return text.splitlines()[0][:200]


# ------------------------------------------------------------- float models


@contextlib.contextmanager
def tf_log_silenced(enabled: bool = True):
    """Keeps TensorFlow's start-up noise off the terminal: while active, everything written to
    file descriptor 2 (TensorFlow's C++ and absl logging: "Could not find cuda drivers",
    "failed call to cuInit", oneDNN notes, converter chatter; also Python warnings) goes to a
    temporary file that is dropped. Yields a text stream on the real stderr for tinygen's own
    progress output. Enter it before TensorFlow is imported. `enabled=False` (`--debug`)
    leaves stderr alone and lets TensorFlow log everything."""
    import sys
    import tempfile

    if not enabled:
        if os.environ.get("TF_CPP_MIN_LOG_LEVEL") == "2":      # the CLI's default: show it all
            os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
        yield sys.stderr
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    sys.stderr.flush()
    saved = os.dup(2)
    real = os.fdopen(os.dup(saved), "w", buffering=1)
    sink = tempfile.TemporaryFile()
    os.dup2(sink.fileno(), 2)
    try:
        yield real
    finally:
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(saved, 2)
        os.close(saved)
        real.close()
        sink.close()


def _import_tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import tensorflow as tf
        import keras
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise QuantizeError(f"quantize needs TensorFlow ({e}); install tinygen[tf]") from None
    return tf, keras


@contextlib.contextmanager
def _quiet():
    with contextlib.redirect_stdout(_io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _fixed_shape(shape, what: str) -> tuple[int, ...]:
    dims = tuple(shape)
    if len(dims) < 1:
        raise QuantizeError(f"{what}: scalar input is not supported")
    rest = dims[1:]
    if any(d is None for d in rest):
        raise QuantizeError(f"{what}: input shape {list(dims)} has unknown dimensions besides the batch")
    if dims[0] not in (None, 1):
        raise QuantizeError(f"{what}: input batch size must be 1 or unspecified, not {dims[0]}")
    return tuple(int(d) for d in rest)


class _KerasSource:
    def __init__(self, path: Path, tf, keras):
        self.tf, self.keras = tf, keras
        try:
            with _quiet():
                model = keras.models.load_model(path, compile=False)
        except Exception as e:  # noqa: BLE001
            raise QuantizeError(f"cannot load Keras model {path}: {_first_line(e)}") from None
        try:
            inputs, outputs = model.inputs, model.outputs
        except Exception:  # noqa: BLE001 - unbuilt subclassed models
            inputs = outputs = None
        if not inputs or not outputs:
            raise QuantizeError(f"{path}: cannot determine the model's inputs and outputs")
        if len(inputs) != 1 or len(outputs) != 1:
            raise QuantizeError(f"{path}: only models with one input and one output are supported")
        self.model = model
        self.batch = inputs[0].shape[0]
        self.input_shape = _fixed_shape(inputs[0].shape, str(path))

    def converter(self):
        # Re-trace on a batch-1 input so the converted graph has static shapes
        # (otherwise Flatten turns into SHAPE/STRIDED_SLICE/PACK).
        # Fixed names keep the tensor names (and so the bytes) independent of
        # Keras' global name counters.
        inp = self.keras.Input(self.input_shape, batch_size=1, name="input")
        wrapped = self.keras.Model(inp, self.model(inp), name="quantize")
        return self.tf.lite.TFLiteConverter.from_keras_model(wrapped)

    def run_float(self, samples: np.ndarray) -> np.ndarray:
        step = 64 if self.batch is None else 1
        to_numpy = self.keras.ops.convert_to_numpy
        outs = [to_numpy(self.model(samples[i : i + step], training=False)) for i in range(0, len(samples), step)]
        return np.concatenate(outs, axis=0)


class _SavedModelSource:
    def __init__(self, path: Path, tf):
        self.tf = tf
        try:
            with _quiet():
                loaded = tf.saved_model.load(str(path))
        except Exception as e:  # noqa: BLE001
            raise QuantizeError(f"cannot load SavedModel {path}: {_first_line(e)}") from None
        sigs = getattr(loaded, "signatures", {})
        if "serving_default" not in sigs:
            raise QuantizeError(f"{path}: SavedModel has no 'serving_default' signature")
        sig = sigs["serving_default"]
        args, kwargs = sig.structured_input_signature
        specs = list(kwargs.items())
        if args or len(specs) != 1 or len(sig.structured_outputs) != 1:
            raise QuantizeError(f"{path}: only models with one input and one output are supported")
        self.loaded, self.sig = loaded, sig
        self.input_name, spec = specs[0]
        if spec.dtype != tf.float32:
            raise QuantizeError(f"{path}: input must be float32, not {spec.dtype.name}")
        self.output_name = next(iter(sig.structured_outputs))
        self.batch = spec.shape[0]
        self.input_shape = _fixed_shape(spec.shape.as_list(), str(path))

    def _call(self, x):
        return self.sig(**{self.input_name: x})[self.output_name]

    def converter(self):
        tf = self.tf
        spec = tf.TensorSpec((1, *self.input_shape), tf.float32, name="input")
        fn = tf.function(self._call, input_signature=[spec])
        return tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], self.loaded)

    def run_float(self, samples: np.ndarray) -> np.ndarray:
        step = 64 if self.batch is None else 1
        outs = [self._call(self.tf.constant(samples[i : i + step])).numpy() for i in range(0, len(samples), step)]
        return np.concatenate(outs, axis=0)


def _convert(tf, source, samples: np.ndarray, io: str, progress, activations: str = "int8") -> bytes:
    n = len(samples)

    def representative():
        for i in range(n):
            yield [samples[i : i + 1]]
            if progress is not None:
                progress(i + 1, n)

    try:
        with _quiet():
            conv = source.converter()
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
            conv.representative_dataset = representative
            if activations == "int16":
                conv.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
                int_type = tf.int16
            else:
                conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
                int_type = tf.int8
            io_type = int_type if io == "int8" else tf.float32
            conv.inference_input_type = io_type
            conv.inference_output_type = io_type
            return bytes(conv.convert())
    except TinygenError:
        raise
    except Exception as e:  # noqa: BLE001 - converter errors are long; keep the gist
        raise QuantizeError(f"{'16x8' if activations == 'int16' else 'int8'} conversion failed: {_first_line(e)}") from None


# ------------------------------------------------------------- int8 oracle


def _arena_upper_bound(data: bytes) -> int:
    """A generous TFLM arena size: every tensor's bytes plus per-tensor and per-op overheads.

    Too small an arena can crash the TFLM process instead of raising, so this
    errs far on the large side (host memory is cheap here).
    """
    import tflite

    model = tflite.Model.GetRootAsModel(data, 0)
    total = 0
    count = 0
    for s in range(model.SubgraphsLength()):
        sg = model.Subgraphs(s)
        count += sg.TensorsLength() + sg.OperatorsLength()
        for t in range(sg.TensorsLength()):
            tensor = sg.Tensors(t)
            n = 1
            for d in tensor.ShapeAsNumpy() if tensor.ShapeLength() else []:
                n *= max(int(d), 1)
            total += 4 * n  # at most 4 bytes per element (int32 biases, float I/O)
            q = tensor.Quantization()
            if q is not None:
                total += 16 * q.ScaleLength()  # per-channel multipliers and shifts
    return 2 * total + 512 * count + (256 << 10)


def _run_oracle(data: bytes, samples: np.ndarray):
    """Run the .tflite on TFLite Micro; return (dequantized outputs [N, ...], in dtype, out dtype)."""
    from tflite_micro import runtime

    interp = runtime.Interpreter.from_bytes(data, arena_size=_arena_upper_bound(data))
    ind = interp.get_input_details(0)
    outd = interp.get_output_details(0)
    in_dtype = np.dtype(ind["dtype"])
    out_dtype = np.dtype(outd["dtype"])
    in_shape = tuple(int(d) for d in ind["shape"])
    outs = []
    for x in samples:
        x = x.reshape(in_shape)
        if in_dtype in (np.int8, np.int16):
            x = _quantize_input(x, ind["quantization_parameters"], in_dtype)
        interp.set_input(x.astype(in_dtype), 0)
        interp.invoke()
        y = np.array(interp.get_output(0))
        if out_dtype in (np.int8, np.int16):
            qp = outd["quantization_parameters"]
            y = (y.astype(np.float64) - float(qp["zero_points"][0])) * float(qp["scales"][0])
        outs.append(y.astype(np.float32))
    return np.stack(outs), in_dtype.name, out_dtype.name


def _quantize_input(x: np.ndarray, qp, dtype=np.int8) -> np.ndarray:
    scale = float(qp["scales"][0])
    zero_point = int(qp["zero_points"][0])
    v = x.astype(np.float64) / scale
    q = np.sign(v) * np.floor(np.abs(v) + 0.5) + zero_point  # round half away from zero, like TFLite
    info = np.iinfo(dtype)
    return np.clip(q, info.min, info.max).astype(dtype)
