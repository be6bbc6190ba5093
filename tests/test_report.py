"""tinygen report: the memory plan drawn as planned (boxes read back from the SVG), a
self-contained HTML page that renders in headless Chromium without requesting anything or
logging an error, the pictures alone, and the memory-plan picture of generated projects."""
from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytest.importorskip("matplotlib", reason="tinygen report needs the `report` extra (matplotlib)")

from tinygen.analysis.report import render_html, report_data  # noqa: E402
from tinygen.cli import main  # noqa: E402
from tinygen.codegen.plan_plot import BOX_HALF_WIDTH, draw_plan, y_limit  # noqa: E402
from tinygen.codegen.planner import plan_memory  # noqa: E402
from tinygen.model.reader import load_int8_model  # noqa: E402
from tests.support.browser import chromium, load_page  # noqa: E402
from tests.support.corpus import SKIP_REASON, corpus_dir  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
KWS = ROOT / "examples" / "kws_micro.tflite"
SVG = "{http://www.w3.org/2000/svg}"
CORPUS_MODEL = "arm_kws_micronet_m_int8.tflite"
HAVE_QEMU = bool(shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm"))


def cli(*args):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main([str(a) for a in args])
    return rc, out.getvalue(), err.getvalue()


def _corpus_model() -> Path:
    d = corpus_dir()
    if d is None or not (d / CORPUS_MODEL).is_file():
        pytest.skip(SKIP_REASON)
    return d / CORPUS_MODEL


def _groups(svg: bytes) -> dict:
    root = ET.fromstring(svg)
    return {g.get("id"): g for g in root.iter(f"{SVG}g") if g.get("id")}


def _path_box(g) -> tuple[float, float, float, float]:
    path = g.find(f"{SVG}path")
    nums = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", path.get("d"))]
    xs, ys = nums[0::2], nums[1::2]
    return min(xs), max(xs), min(ys), max(ys)


# ------------------------------------------------------------------- the drawn plan
@pytest.mark.parametrize("which", ["kws", "resnet8_ic", "corpus"])
def test_drawn_memory_plan_matches_the_plan(which, request):
    if which == "kws":
        path = KWS
    elif which == "corpus":
        path = _corpus_model()
    else:
        path = request.getfixturevalue("zoo")[which]
    g = load_int8_model(path)
    plan = plan_memory(g)
    groups = _groups(draw_plan(g, plan, "svg"))
    px0, px1, py0, py1 = _path_box(groups["tg-plot-area"])
    steps, top = len(plan.order), y_limit(plan)

    def sx(x):
        return px0 + (x + 0.5) / steps * (px1 - px0)

    def sy(y):            # SVG y grows downwards
        return py1 - y / top * (py1 - py0)

    boxes = [gid for gid in groups if gid.startswith("tg-buf-")]
    assert len(boxes) == len(plan.buffers)
    for b in plan.buffers:
        g_box = groups[f"tg-buf-{b.id}"]
        x0, x1, y0, y1 = _path_box(g_box)
        assert x0 == pytest.approx(sx(b.start - BOX_HALF_WIDTH), abs=0.6)
        assert x1 == pytest.approx(sx(b.end + BOX_HALF_WIDTH), abs=0.6)
        assert y1 == pytest.approx(sy(b.offset), abs=0.6)                  # bottom edge: the offset
        assert y0 == pytest.approx(sy(b.offset + b.nbytes), abs=0.6)       # top edge: offset + bytes
        title = g_box.find(f"{SVG}title").text
        assert f"{b.nbytes:,} bytes at offset {b.offset:,}" in title
        for t in b.tensors:
            assert g.tensors[t].name in title
    _, _, arena_y, _ = _path_box(groups["tg-arena-line"])
    assert arena_y == pytest.approx(sy(plan.arena_bytes), abs=0.6)
    _, _, bound_y, _ = _path_box(groups["tg-bound-line"])
    assert bound_y == pytest.approx(sy(plan.lower_bound_bytes), abs=0.6)


# ------------------------------------------------------------------- the HTML page
def test_html_is_self_contained_and_embeds_its_data():
    g = load_int8_model(KWS)
    data = report_data(g)
    html = render_html(g, data)
    assert not re.search(r"<(script|img|link|iframe)[^>]+(src|href)\s*=", html, re.I)
    assert not re.search(r"url\(\s*['\"]?(https?:|//)", html, re.I) and "@import" not in html
    assert not re.search(r"(src|href)\s*=\s*['\"](?!#|data:)", html, re.I)
    blob = re.search(r'<script type="application/json" id="tinygen-data">(.*?)</script>', html, re.S).group(1)
    embedded = json.loads(blob)
    assert embedded == json.loads(json.dumps(data))
    assert [o["op"] for o in embedded["ops"]] == [op.op for op in g.operators]
    assert {m["board"] for m in embedded["memory"]} >= {"qemu-stm32f4", "qemu-cortex-m4", "nucleo-f446re"}
    assert html.count("<svg") == 2 and "tg-buf-0" in html


@pytest.mark.skipif(chromium() is None, reason="needs Debian's chromium (scripts/setup.sh installs it)")
def test_browser_check_catches_requests_and_errors(tmp_path):
    """The Chromium harness itself: a page that fetches and fails is caught."""
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html><body><p>x</p><img src="http://127.0.0.1:9/x.png">'
                   '<script>console.error("boom")</script></body></html>')
    page = load_page(bad)
    assert "http://127.0.0.1:9/x.png" in page.requests
    assert any("boom" in e for e in page.errors)


def _not_blank(png: bytes) -> None:
    import numpy as np
    from PIL import Image

    img = Image.open(io.BytesIO(png)).convert("RGB")
    w, h = img.size
    assert w >= 1000 and h >= 1500, img.size
    px = np.asarray(img.resize((w // 4, h // 4)), dtype=np.int32).reshape(-1, 3)
    ink = float((px.sum(axis=1) < 3 * 235).mean())            # share of pixels that are not (near) white
    colours = len(np.unique(px, axis=0))
    assert ink > 0.03 and colours > 50, (ink, colours)


@pytest.mark.skipif(chromium() is None, reason="needs Debian's chromium (scripts/setup.sh installs it)")
@pytest.mark.parametrize("which", ["zoo", "corpus"])
def test_report_renders_in_headless_chromium(which, tmp_path, request):
    path = request.getfixturevalue("zoo")["ds_cnn_kws"] if which == "zoo" else _corpus_model()
    out = tmp_path / "report.html"
    rc, stdout, err = cli("report", path, "-o", out, "-q")
    assert rc == 0, err
    assert stdout.strip() == f"wrote {out}"
    page = load_page(out)
    assert page.requests == [out.resolve().as_uri()]       # the page itself, nothing else
    assert page.errors == []
    assert page.title.startswith("tinygen report: ")
    _not_blank(page.screenshot)
    if which == "zoo":
        (tmp_path / "shot.png").write_bytes(page.screenshot)


@pytest.mark.skipif(not HAVE_QEMU, reason="needs arm-none-eabi-gcc and qemu-system-arm")
@pytest.mark.qemu
def test_report_with_a_board_has_profile_and_validation(tmp_path):
    out = tmp_path / "kws.html"
    rc, _, err = cli("report", KWS, "--board", "qemu-cortex-m4", "-o", out, "--samples", 2, "--runs", 2, "-q")
    assert rc == 0, err
    html = out.read_text()
    data = json.loads(re.search(r'id="tinygen-data">(.*?)</script>', html, re.S).group(1))
    prof, val = data["profile"], data["validate"]
    assert data["board"] == "qemu-cortex-m4" and [m["board"] for m in data["memory"]] == ["qemu-cortex-m4"]
    assert prof["runs"] == 2 and len(prof["layers"]) == 8 and prof["total_cycles_estimated"] > prof["total_cycles"]
    assert val["samples"] == 2 and val["passed"] and val["latency_cycles_estimated"]["median"] > 0
    assert html.count("<svg") == 3 and "tg-profile-estimated" in html and "PASS: every output is bit-exact" in html
    assert f"{prof['total_cycles']:,}" in html
    if chromium() is not None:
        page = load_page(out)
        assert page.requests == [out.resolve().as_uri()] and page.errors == []
        _not_blank(page.screenshot)
    rc, stdout, err = cli("report", KWS, "--board", "qemu-cortex-m4", "--format", "svg", "-o", tmp_path / "k.svg",
                          "--samples", 1, "--runs", 1, "-q")
    assert rc == 0, err
    for name in ("memory-plan", "memory", "profile"):
        ET.fromstring((tmp_path / f"k-{name}.svg").read_bytes())       # well-formed SVG


def test_pictures_alone(tmp_path):
    rc, stdout, err = cli("report", KWS, "--format", "png", "-o", tmp_path / "pics" / "kws.png", "-q")
    assert rc == 0, err
    files = sorted(p.name for p in (tmp_path / "pics").iterdir())
    assert files == ["kws-memory-plan.png", "kws-memory.png"]
    for f in files:
        assert (tmp_path / "pics" / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert stdout.splitlines() == [f"wrote {tmp_path / 'pics' / f}" for f in ("kws-memory-plan.png", "kws-memory.png")]


@pytest.mark.parametrize("args, msg", [(("--board", "no-such-board"), "no-such-board"),
                                       (("--runs", "0", "--board", "qemu-cortex-m4"), "at least 1")])
def test_bad_input_is_one_line(args, msg, tmp_path):
    rc, out, err = cli("report", KWS, "-o", tmp_path / "r.html", *args)
    assert rc == 2 and out == "" and not (tmp_path / "r.html").exists()
    assert len(err.strip().splitlines()) == 1 and err.startswith("tinygen: error: ") and msg in err


def test_generated_project_has_the_memory_plan_picture(tmp_path):
    from PIL import Image

    from tinygen.boards.project import write_project

    g = load_int8_model(KWS)
    proj = write_project(g, g and "qemu-stm32f4", tmp_path / "fw")
    png = tmp_path / "fw" / "memory-plan.png"
    assert png.is_file() and proj.manifest["memory_plan_png"] == "memory-plan.png"
    assert Image.open(png).size[0] >= 600
    assert "![memory plan](memory-plan.png)" in (tmp_path / "fw" / "README.md").read_text()


def test_report_rendering_does_not_talk_to_boards():
    """tinygen/analysis/report.py draws what the command hands it: no import of tinygen.device."""
    import ast

    import tinygen.analysis.report as mod

    tree = ast.parse(Path(mod.__file__).read_text())
    names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert names and not [n for n in names if n.startswith("tinygen.device")]
