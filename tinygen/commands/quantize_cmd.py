"""`tinygen quantize MODEL -o OUT.tflite --calibration DATA.npy [--io int8|float] [--activations int8|int16]`"""
from __future__ import annotations

from pathlib import Path

import click

from tinygen.errors import TinygenError
from .common import echo_json, progress_enabled
from .emulate_cmd import load_npy, save_atomic


@click.command("quantize")
@click.argument("model", type=click.Path(path_type=str))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="The quantized .tflite to write.")
@click.option("--calibration", required=True, type=click.Path(dir_okay=False),
              help="Representative float32 samples [N, *input_shape] as .npy.")
@click.option("--io", "io", type=click.Choice(["int8", "float"]), default="int8", show_default=True,
              help="Model input/output type: int8 (int16 with --activations int16), or keep float (QUANTIZE/DEQUANTIZE at the edges).")
@click.option("--activations", type=click.Choice(["int8", "int16"]), default="int8", show_default=True,
              help="Activation type: int8, or int16 for a 16x8 model (int16 activations, int8 weights, int64 biases).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def cmd(model, output, calibration, io, activations, as_json):
    """Full-integer post-training quantization of a Keras model or SavedModel (needs tinygen[tf])."""
    try:
        from tinygen.model.quantize import quantize_model
    except ImportError as e:
        raise TinygenError(f"quantize needs TensorFlow: pip install 'tinygen[tf]' ({e})") from None
    if not output.endswith(".tflite"):
        raise TinygenError(f"--output {output}: use a .tflite file name")
    calib = load_npy(calibration, "calibration data")
    from tinygen.model.quantize import tf_log_silenced

    root = click.get_current_context().find_root()
    debug = bool((root.obj or {}).get("debug"))
    # TensorFlow's C++/absl start-up noise stays off the terminal (--debug shows it)
    with tf_log_silenced(not debug) as err:
        if progress_enabled() and not as_json:
            with click.progressbar(length=len(calib), label="calibrating", file=err) as bar:
                def progress(i, n):
                    bar.update(1)
                data, report = quantize_model(model, calib, io=io, progress=progress, activations=activations)
        else:
            data, report = quantize_model(model, calib, io=io, activations=activations)
    save_atomic(Path(output), lambda p: p.write_bytes(data))
    if as_json:
        echo_json({"output": output, "bytes": len(data), **report.to_dict()})
    else:
        for line in report.summary_lines():
            click.echo(line)
        click.echo(f"wrote {output} ({len(data):,} bytes)")
