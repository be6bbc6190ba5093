"""`tinygen benchmark MODEL --board B [--mlperf ID] [--dataset DATA.npz] [--runs N] [--warmups W]
[--port P] [-o DIR] [--json]`"""
from __future__ import annotations

import sys

import click

from tinygen.errors import TinygenError
from .common import coordinator_option, echo_json, model_argument, place_option, progress_enabled


class BenchmarkMismatch(TinygenError):
    """An output of the board differs from the emulator's."""

    exit_code = 1


class _Progress:
    def __init__(self, label: str):
        self.label = label
        self.bar = None

    def __call__(self, i: int, n: int) -> None:
        if not progress_enabled():
            return
        if self.bar is None:
            self.bar = click.progressbar(length=n, label=self.label, file=sys.stderr, show_pos=True, show_eta=True)
            self.bar.__enter__()
        self.bar.update(i - self.bar.pos)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


@click.command("benchmark")
@model_argument
@click.option("--board", required=True, help="Board id (tinygen boards); qemu-* boards run in QEMU.")
@click.option("--mlperf", "model_id", metavar="ID",
              help="Benchmark: kws01, vww01, ic01, ad01, or a name of yours (raw input bytes). "
              "Default: user-defined, named after the model.")
@click.option("--dataset", type=click.Path(dir_okay=False, exists=True),
              help="DATA.npz with 'x' (inputs in the benchmark's format) and 'y' (labels): adds the accuracy "
              "metric over the whole set (top-1; AUC for ad01).")
@click.option("--runs", type=click.IntRange(1, 10000), default=5, show_default=True,
              help="Timed inferences for the latency median.")
@click.option("--warmups", type=click.IntRange(0, 10000), default=1, show_default=True,
              help="Warm-up inferences before the timed ones.")
@click.option("--iterations", type=click.IntRange(1, 100000), default=1, show_default=True,
              help="Inferences per timed run (infer N 0): finer latency for models faster than the us timer.")
@click.option("--port", help="Serial port of a board that already runs the MLPerf firmware (a real board's "
              "device, /dev/pts/N of `tinygen flash --pty`, socket://...). Default: QEMU started here for qemu-* "
              "boards; for real boards, generate + build + flash, then the board's USB port.")
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False, path_type=str),
              help="Real boards: keep the firmware project in DIR (default: a temporary directory).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@place_option()
@coordinator_option
def cmd(model, board, model_id, dataset, runs, warmups, iterations, port, out_dir, as_json, place,
        coordinator):
    """Run the MLPerf Tiny benchmark protocol against the model's firmware on a board.

    Builds (or reuses) the MLPerf DUT firmware (generate --mlperf), drives the DUT protocol
    (name, profile, db load, infer, results), and reports median latency (ms and cycles),
    throughput and, with --dataset, the benchmark's accuracy metric. Every output is checked
    against the emulator. With --place (labgrid) the board is on another machine: a real
    board is flashed through the place (OpenOCD), an emulated one must already run the MLPerf
    firmware there (`tinygen flash DIR --pty` on the lab host, exported as a RawSerialPort).
    """
    import shutil
    import tempfile

    from tinygen.boards.catalog import load_board
    from tinygen.boards.mlperf import mlperf_spec
    from tinygen.codegen.carray import c_identifier
    from tinygen.device.mlperf import MlperfDut, load_dataset, run_benchmark
    from tinygen.device.target import ensure_emulated_firmware, open_target
    from tinygen.model.reader import load_int8_model

    say = lambda m: click.echo(m, err=True)  # noqa: E731
    b = load_board(board)
    g = load_int8_model(model)
    spec = mlperf_spec(g, model_id or c_identifier(g.name)[:32])
    data = load_dataset(dataset, spec) if dataset else None

    if place:
        from tinygen.device.farm import flasher_problem

        if port:
            raise TinygenError("give --port or --place, not both")
        why = flasher_problem(b)
        if why:
            raise TinygenError(why)
    tmp = None
    elf = None
    baud = None
    try:
        if place:
            proj = None
            if not b.is_emulated:
                from tinygen.boards.deploy import build_project
                from tinygen.boards.project import write_project

                if out_dir is None:
                    tmp = tempfile.mkdtemp(prefix="tinygen-benchmark-")
                    out_dir = f"{tmp}/{b.id}"
                proj = write_project(g, b, out_dir, progress=say, mlperf=spec.model_id)
                built = build_project(proj, progress=say)
                say(f"built: {built.summary()}")
                baud = proj.manifest["mlperf"]["baud"]
            rep = _benchmark_at_place(place, coordinator, proj, baud, spec, runs, warmups, iterations, data, say)
        elif port is None and b.is_emulated:
            elf = ensure_emulated_firmware(g, b, say=say, mlperf=spec.model_id)
        elif port is None:
            from tinygen.boards.deploy import build_project, flash_real, pick_port
            from tinygen.boards.project import write_project

            port = pick_port(b, None).device
            if out_dir is None:
                tmp = tempfile.mkdtemp(prefix="tinygen-benchmark-")
                out_dir = f"{tmp}/{b.id}"
            proj = write_project(g, b, out_dir, progress=say, mlperf=spec.model_id)
            built = build_project(proj, progress=say)
            say(f"built: {built.summary()}")
            port = flash_real(proj, port, progress=say)
            baud = proj.manifest["mlperf"]["baud"]
        if not place:
            bar = _Progress(f"{spec.model_id}")
            try:
                with open_target(b, port=port, baud=baud, elf=elf, say=say) as link:
                    say(f"benchmark {spec.model_id} ({spec.task}) on {link.description}")
                    rep = run_benchmark(MlperfDut(link.serial), spec, runs=runs, warmups=warmups,
                                        iterations=iterations, dataset=data, progress=bar)
            finally:
                bar.close()
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    if as_json:
        out = rep.as_dict()
        out.update(board=b.id, model_name=g.name, emulated=b.is_emulated, clock_hz=b.clock_hz,
                   cycle_unit="instructions (QEMU -icount)" if b.is_emulated else "core cycles")
        echo_json(out)
    else:
        _print_report(rep, b, g)
    if not rep.ok:
        raise BenchmarkMismatch(f"{len(rep.mismatches)} outputs differ from the emulator: {rep.mismatches[0]}")


def _benchmark_at_place(place, coordinator, proj, baud, spec, runs, warmups, iterations, data, say):
    """Acquire the place, flash `proj` through it (real boards), run the benchmark over its
    serial port, release it."""
    from tinygen.device.farm import Farm, flash_place, open_place_link
    from tinygen.device.mlperf import MlperfDut, run_benchmark

    with Farm.connect(coordinator, say=say) as farm, farm.place(place) as p:
        if proj is not None:
            say(flash_place(p, proj, say=say))
        link = open_place_link(p, baud=baud, say=say)
        bar = _Progress(f"{spec.model_id}")
        try:
            say(f"benchmark {spec.model_id} ({spec.task}) on {link.description}")
            return run_benchmark(MlperfDut(link.serial), spec, runs=runs, warmups=warmups, iterations=iterations,
                                 dataset=data, progress=bar)
        finally:
            bar.close()
            link.close()


def _print_report(rep, b, g) -> None:
    echo = click.echo
    echo(f"MLPerf Tiny {rep.model_id} ({rep.task}): {g.name} on {b.id}, DUT '{rep.dut_name}', {rep.profile}")
    for i, (t, th) in enumerate(zip(rep.latencies_us, rep.throughputs), 1):
        echo(f"ulp-mlperf: Performance results for window {i}:")
        echo(f"ulp-mlperf:   # Inferences : {rep.iterations:>13}")
        echo(f"ulp-mlperf:   Runtime      : {t * rep.iterations / 1e6:>10.3f} sec.")
        echo(f"ulp-mlperf:   Throughput   : {th:>10.3f} inf./sec.")
    echo(f"ulp-mlperf: Median throughput is {rep.throughput:>10.3f} inf./sec.")
    unit = "instructions (QEMU -icount: 1 instruction = 1 ns of virtual time)" if b.is_emulated else \
        f"cycles at {b.clock_hz / 1e6:g} MHz"
    echo(f"  latency     median {rep.median_us / 1000:.3f} ms over {len(rep.latencies_us)} runs "
         f"(min {min(rep.latencies_us) / 1000:.3f}, max {max(rep.latencies_us) / 1000:.3f}), "
         f"{rep.warmups} warm-up(s)")
    echo(f"  cycles      median {rep.median_cycles:,.0f} {unit}")
    echo(f"  throughput  {rep.throughput:.3f} inferences/s")
    if rep.accuracy is not None:
        n = rep.samples - len(rep.latencies_us)
        if rep.metric == "auc":
            echo(f"  accuracy    AUC {rep.accuracy:.4f} over {n} samples")
        else:
            echo(f"  accuracy    Top-1 {100 * rep.accuracy:.2f}% over {n} samples")
    echo(f"  checked     {rep.exact}/{rep.samples} inferences bit-exact with the emulator (outputs and m-results)")
    if not b.is_emulated:
        echo("  energy      build with `tinygen generate --mlperf ID --energy` for the EEMBC energy runner "
             "(GPIO timestamps, 9600 baud)")
    echo(f"  wall time   {rep.seconds:.2f} s")
