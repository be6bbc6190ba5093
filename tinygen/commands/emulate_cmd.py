"""`tinygen emulate MODEL --inputs IN.npy [--output OUT.npy|OUT.npz] [--layers DIR]`"""
from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from tinygen.errors import TinygenError
from .common import echo_json, model_argument


def load_npy(path: str, what: str) -> np.ndarray:
    p = Path(path)
    if not p.is_file():
        raise TinygenError(f"{path}: no such file ({what})")
    try:
        arr = np.load(p, allow_pickle=False)
    except Exception as e:  # bad magic, truncated, pickled objects
        raise TinygenError(f"{path}: not a readable .npy file ({type(e).__name__}: {e})") from None
    if isinstance(arr, np.lib.npyio.NpzFile):
        raise TinygenError(f"{path}: is an .npz archive; pass one .npy file per input")
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise TinygenError(f"{path}: dtype {arr.dtype} is neither integer nor float")
    return arr


def save_atomic(path: Path, writer) -> None:
    """Write via a temporary file in the same directory, then rename: nothing half-written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{path.suffix}")
    try:
        writer(tmp)
        tmp.replace(path)
    finally:
        if tmp.exists():
            tmp.unlink()


@click.command("emulate")
@model_argument
@click.option("--inputs", "inputs", multiple=True, required=True, type=click.Path(dir_okay=False),
              help="Batch [N, *input_shape] as .npy (int8, or float32 quantized with the input's scale/zero "
                   "point). Give it once per model input.")
@click.option("--output", "output", type=click.Path(dir_okay=False),
              help="Write outputs: OUT.npy ([N, *output_shape], single-output models) or OUT.npz (output_0, ...).")
@click.option("--layers", "layers_dir", type=click.Path(file_okay=False),
              help="Write every intermediate tensor to DIR as NNN_OP_TENSOR.npy.")
@click.option("--stateful", is_flag=True,
              help="Models with state (LSTM variable tensors): the batch is one sequence, the state carries from "
                   "sample to sample. Default: every sample starts from the reset state.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
def cmd(model, inputs, output, layers_dir, stateful, as_json):
    """Run the model on the host with tinygen's bit-exact int8 kernels (the TFLite Micro reference)."""
    from tinygen.emulator.engine import Emulator, sample_shape

    emu = Emulator.from_file(model)
    g = emu.graph
    _check_options(g, inputs, output)
    arrays = [load_npy(p, f"input {i}") for i, p in enumerate(inputs)]
    res = emu.run(*arrays, layers=bool(layers_dir), stateful=stateful)
    outs, layers = res if layers_dir else (res, None)
    outs = outs if isinstance(outs, list) else [outs]

    if output:
        _write_outputs(output, outs)
    if layers_dir:
        _write_layers(layers_dir, layers)

    n = outs[0].shape[0]
    summary = {
        "model": g.name,
        "samples": int(n),
        "outputs": [{"name": g.tensors[t].name, "shape": [int(n), *sample_shape(g.tensors[t])],
                     "dtype": str(o.dtype)} for t, o in zip(g.outputs, outs)],
        "output_file": output,
        "layers_dir": layers_dir,
        "stateful_model": bool(emu.has_state),
        "stateful": bool(stateful and emu.has_state),
    }
    if as_json:
        echo_json(summary)
    else:
        _show_summary(summary, outs, layers)


def _check_options(g, inputs, output) -> None:
    if len(inputs) != len(g.inputs):
        raise TinygenError(f"model has {len(g.inputs)} input(s); pass --inputs {len(g.inputs)} time(s), got {len(inputs)}")
    if output and not output.endswith((".npy", ".npz")):
        raise TinygenError(f"--output {output}: use a .npy or .npz file name")
    if output and output.endswith(".npy") and len(g.outputs) > 1:
        raise TinygenError(f"model has {len(g.outputs)} outputs; use --output OUT.npz")


def _write_outputs(output: str, outs: list) -> None:
    """OUT.npy (the one output) or OUT.npz (output_0, ...), nothing half-written."""
    out_path = Path(output)
    if output.endswith(".npy"):
        save_atomic(out_path, lambda p: np.save(p, outs[0]))
    else:
        save_atomic(out_path, lambda p: np.savez(p, **{f"output_{i}": o for i, o in enumerate(outs)}))


def _write_layers(layers_dir: str, layers: list) -> None:
    """Every intermediate tensor as DIR/NNN_OP_TENSOR.npy."""
    from tinygen.codegen.carray import c_identifier

    d = Path(layers_dir)
    d.mkdir(parents=True, exist_ok=True)
    for lo in layers:
        np.save(d / f"{lo.op_index:03d}_{lo.op}_{c_identifier(lo.tensor_name)[:60]}.npy", lo.value)


def _show_summary(summary: dict, outs: list, layers) -> None:
    """The text summary: outputs, files written, or the first sample's output 0 when nothing was written."""
    output, layers_dir = summary["output_file"], summary["layers_dir"]
    click.echo(f"emulated {summary['model']} on {summary['samples']} sample(s)")
    for o in summary["outputs"]:
        click.echo(f"  {o['name']}: {o['dtype']} {o['shape']}")
    if output:
        click.echo(f"wrote {output}")
    if layers_dir:
        click.echo(f"wrote {len(layers)} layer tensors to {layers_dir}")
    if not output:
        first = outs[0][0].ravel()
        click.echo(f"first sample's output 0: {np.array2string(first[:32], max_line_width=100)}"
                   f"{' ...' if first.size > 32 else ''}")
