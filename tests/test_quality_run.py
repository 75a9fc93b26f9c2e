"""The quality tools on a real (tiny) run: evaluate adds the metrics to metrics.json and
TensorBoard, the same numbers twice; the CLI modes; and the gallery opened in headless
Chromium (Debian's package) through the DevTools protocol: no console errors, and every image
decodes (naturalWidth > 0), served over http and straight from disk; at 1280 px wide it does not
scroll sideways and every metric is labelled."""
import base64
import io
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request

import numpy as np
import pytest
import websocket  # websocket-client (requirements/test.txt)
from PIL import Image

import datasets
import runs
from trainer import run, task
from trainer.quality import evaluation, gallery, modes

QUALITY = ("quality_num_samples=16", "swd_projections=64", "projection_steps=20", "neighbours_samples=3",
           "neighbours_k=2")
QUALITY_KEYS = {"swd_32", "swd_16", "swd_avg", "msssim_fake", "msssim_real", "fid", "kid", "kid_std"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A DCGAN trained 2 steps at 32 px (checkpoints and sample grids at steps 0 and 2)."""
    root = tmp_path_factory.mktemp("quality_run")
    data = datasets.make_dataset(str(root / "data"), 32, count=16)
    cfg = runs.tiny_config("dcgan_32", data, *QUALITY)
    model_dir = str(root / "run")
    run.train(cfg, model_dir)
    return cfg, model_dir, data


def test_evaluate_records_quality_metrics_deterministically(trained):
    cfg, model_dir, _ = trained
    first = run.evaluate(cfg, model_dir)
    assert QUALITY_KEYS <= set(first) and "d_loss" in first
    assert all(np.isfinite(first[k]) for k in QUALITY_KEYS)
    with open(os.path.join(model_dir, "metrics.json")) as f:
        latest = json.load(f)["latest"]
    assert QUALITY_KEYS <= set(latest) and latest["global_step"] == 2
    again = evaluation.evaluate(cfg, model_dir)
    assert {k: again[k] for k in QUALITY_KEYS} == {k: first[k] for k in QUALITY_KEYS}
    tags = set()
    for event in runs.events(os.path.join(model_dir, evaluation.SUMMARY_DIR)):
        tags.update(v.tag for v in event.summary.value if event.step == 2)
    assert {"quality/swd_avg", "quality/fid", "quality/kid", "quality/msssim_fake"} <= tags
    assert evaluation.evaluate(cfg.replace(quality_metrics=False), model_dir) == {}


def test_cli_modes_and_their_errors(trained, tmp_path, capsys):
    cfg, model_dir, _ = trained
    assert task.main(["--model_dir", model_dir, "--mode", "interpolate"]) == 0
    assert "walk.gif" in capsys.readouterr().out
    assert os.path.exists(os.path.join(model_dir, "interpolation", "strip.png"))
    with open(os.path.join(model_dir, "interpolation", "walk.gif"), "rb") as f:
        assert Image.open(f).n_frames == modes.INTERPOLATION_POINTS * modes.INTERPOLATION_STEPS
    assert task.main(["--model_dir", model_dir, "--mode", "project"]) == 2
    assert capsys.readouterr().err.strip() == "error: --mode project needs --target IMAGE"
    assert task.main(["--model_dir", model_dir, "--mode", "project", "--target", str(tmp_path / "nope.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert "nope.png: file not found" in err and len(err.splitlines()) == 1


# --- The gallery in a real browser ------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class DevTools:
    """A minimal Chrome DevTools Protocol client over one page's websocket."""

    def __init__(self, url: str):
        self.ws = websocket.create_connection(url, timeout=30, suppress_origin=True)
        self.next_id = 0
        self.events = []

    def call(self, method: str, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, event: str, timeout: float = 30.0):
        deadline = time.time() + timeout
        seen = len(self.events)
        while time.time() < deadline:
            for message in self.events[seen:]:
                if message.get("method") == event:
                    return message
            seen = len(self.events)
            self.ws.settimeout(max(deadline - time.time(), 0.1))
            self.events.append(json.loads(self.ws.recv()))
        raise TimeoutError(event)

    def errors(self):
        out = []
        for m in self.events:
            method, params = m.get("method"), m.get("params", {})
            if method == "Runtime.exceptionThrown":
                out.append(params["exceptionDetails"].get("text", "exception"))
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                out.append(" ".join(str(a.get("value", a.get("description"))) for a in params.get("args", [])))
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                out.append(params["entry"].get("text", "") + " " + params["entry"].get("url", ""))
        return out

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")

    def load(self, url: str):
        self.events.clear()
        self.call("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")

    def close(self):
        self.ws.close()


@pytest.fixture
def browser(tmp_path):
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    profile = tempfile.mkdtemp(dir=tmp_path)
    log = open(tmp_path / "chromium.log", "wb")
    process = subprocess.Popen(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--remote-debugging-port=0",
         "--remote-allow-origins=*", "--window-size=1200,900", "about:blank"],
        stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    try:
        port_file = os.path.join(profile, "DevToolsActivePort")
        deadline = time.time() + 30
        while not (os.path.exists(port_file) and open(port_file).read().strip()):
            if process.poll() is not None or time.time() > deadline:
                raise RuntimeError("chromium did not start: " + (tmp_path / "chromium.log").read_text()[-2000:])
            time.sleep(0.1)
        port = int(open(port_file).read().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            page = next(t for t in json.load(r) if t["type"] == "page")
        tools = DevTools(page["webSocketDebuggerUrl"])
        for domain in ("Page", "Runtime", "Log"):
            tools.call(f"{domain}.enable")
        yield tools
        tools.close()
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


IMAGES_JS = ("Array.from(document.images).map(i => ({src: i.getAttribute('src'), width: i.naturalWidth, "
             "complete: i.complete, loaded: i.dataset.loaded || ''}))")


def check_page(tools: DevTools, url: str):
    tools.load(url)
    images = tools.evaluate(IMAGES_JS)
    assert images, "no images on the page"
    broken = [i for i in images if not (i["complete"] and i["width"] > 0 and i["loaded"] == "1")]
    assert not broken, broken
    assert not tools.errors(), tools.errors()
    return images


LAPTOP_WIDTH = 1280  # px: the gallery must fit a laptop screen without horizontal scrolling
WIDTHS_JS = ("(b => ({window: window.innerWidth, html: document.documentElement.scrollWidth,"
             " client: document.documentElement.clientWidth,"
             " body: document.body.scrollWidth, table: [b.scrollWidth, b.clientWidth]}))"
             "(document.querySelector('.metrics-box'))")
METRICS_JS = ("Array.from(document.querySelectorAll('table.metrics tbody tr')).map(r => ({key: r.dataset.metric,"
              " better: r.dataset.better, about: r.querySelector('.about').textContent.trim(),"
              " betterText: r.querySelector('.better').textContent.trim()}))")
BETTER_TEXT = {"lower": "lower is better", "higher": "higher is better", "closer": "closer to msssim_real is better",
               "reference": "no better direction", "diagnostic": "no better direction", "unknown": "unknown"}


def screenshot(tools: DevTools, path) -> bytes:
    """The whole page at the current viewport width, as PNG bytes (also written to path)."""
    size = tools.call("Page.getLayoutMetrics")["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
    shot = base64.b64decode(tools.call("Page.captureScreenshot", format="png", clip=clip,
                                       captureBeyondViewport=True)["data"])
    path.write_bytes(shot)
    return shot


def test_gallery_in_headless_chromium(trained, browser, tmp_path):
    cfg, model_dir, data = trained
    target = tmp_path / "target.png"
    target.write_bytes(datasets.png(datasets.blob_image(np.random.default_rng(5), 48)))
    modes.interpolate(cfg, model_dir)
    modes.project(cfg, model_dir, str(target))
    modes.neighbours(cfg.replace(neighbours_k=8), model_dir)  # the default k: 3 strips of 8 made the page 2354 px
    evaluated = run.evaluate(cfg, model_dir)  # every key a real DCGAN evaluation writes to metrics.json
    run.record_metrics(model_dir, {"global_step": 0, "swd_avg": 1.5, "fid": 2.5, "made_up_score": 0.5})
    index = gallery.build(model_dir)
    browser.call("Emulation.setDeviceMetricsOverride", width=LAPTOP_WIDTH, height=800, deviceScaleFactor=1,
                 mobile=False)

    server, url = gallery.start_server(model_dir)
    try:
        images = check_page(browser, url)
        sources = {i["src"] for i in images}
        assert {"../samples/step_0000000.png", "../samples/step_0000002.png", "../interpolation/walk.gif",
                "../interpolation/strip.png", "../projection/target/progress.gif",
                "../neighbours/sample_000.png", "../neighbours/sample_002_pixel.png"} <= sources
        assert browser.evaluate("document.getElementById('step-label').textContent") == "step 2"
        # The step slider swaps the grid to another checkpoint's image.
        browser.evaluate("showStep(0); new Promise(r => { const i = document.getElementById('step-image');"
                         " if (i.complete) r(); else i.onload = r; })")
        src = browser.evaluate("document.getElementById('step-image').getAttribute('src')")
        assert src == "../samples/step_0000000.png"
        assert browser.evaluate("document.getElementById('step-image').naturalWidth") > 0
        # No horizontal scrolling at 1280 px, not even inside the metrics table's box.
        shot = screenshot(browser, tmp_path / "gallery_1280.png")
        widths = browser.evaluate(WIDTHS_JS)
        assert widths["window"] == LAPTOP_WIDTH, widths
        assert widths["html"] <= LAPTOP_WIDTH and widths["body"] <= LAPTOP_WIDTH, widths
        assert widths["html"] <= widths["client"], widths  # not even under a vertical scroll bar
        assert widths["table"][0] <= widths["table"][1], widths
        assert Image.open(io.BytesIO(shot)).size[0] <= LAPTOP_WIDTH
        # Every metric shown says what it compares and which way is better; unknown keys are
        # still shown, marked as such.
        rows = {r["key"]: r for r in browser.evaluate(METRICS_JS)}
        assert set(rows) == set(evaluated) - {"global_step"} | {"made_up_score"}
        for key, row in rows.items():
            assert row["about"] and BETTER_TEXT[row["better"]] in row["betterText"], row
            assert (row["better"] == "unknown") == (key == "made_up_score"), row
        assert {k: rows[k]["better"] for k in ("swd_32", "swd_16", "swd_avg", "fid", "kid", "msssim_fake")} == {
            "swd_32": "lower", "swd_16": "lower", "swd_avg": "lower", "fid": "lower", "kid": "lower",
            "msssim_fake": "closer"}
        assert "generated" in rows["fid"]["about"] and "real" in rows["fid"]["about"]
        assert not browser.errors(), browser.errors()
    finally:
        server.shutdown()
    # No server: the relative links work from disk too.
    check_page(browser, "file://" + os.path.abspath(index))


def test_gallery_thumbnails_span_all_steps(tmp_path):
    from trainer import images
    for step in range(0, 100, 2):
        images.write_png(str(tmp_path / "samples" / f"step_{step:07d}.png"), np.zeros([4, 4, 3], np.uint8))
    page = gallery.render(str(tmp_path))
    thumbs = page.split('class="thumbs"')[1]
    assert thumbs.count("<img") == gallery.MAX_THUMBNAILS
    assert "step_0000000.png" in thumbs and "step_0000098.png" in thumbs
    assert "None yet" in page  # the sections without files say how to make them


def test_gallery_labels_every_metric_key(tmp_path):
    """pix2pix's and the SWD levels' keys are labelled too; at most MAX_METRIC_STEPS columns."""
    import tensorflow as tf
    from trainer.models import pix2pix
    image = tf.zeros([1, 16, 16, 3])
    keys = set(pix2pix.image_metrics(image, image)) | set(pix2pix.image_metrics(image, image, prefix="baseline_"))
    translation = {"a2b_swd_avg", "a2b_swd_32", "a2b_fid", "b2a_kid", "b2a_kid_std"}  # evaluate's per-domain keys
    history = [{"global_step": s, "swd_128": 1.0, "swd_avg": 1.0, "swd_16": 1.0, **dict.fromkeys(keys, 0.5),
                **dict.fromkeys(translation, 2.0)} for s in range(0, 200, 10)]
    with open(tmp_path / "metrics.json", "w") as f:
        json.dump({"latest": history[-1], "history": history}, f)
    page = gallery.render(str(tmp_path))
    table = page.split('class="metrics"')[1].split("</table>")[0]
    rows = table.split('<tr data-metric="')[1:]
    assert [r.split('"')[0] for r in rows[:3]] == ["swd_avg", "swd_128", "swd_16"]
    assert {r.split('"')[0] for r in rows} == keys | {"swd_avg", "swd_128", "swd_16"} | translation
    assert all('data-better="unknown"' not in r for r in rows)
    assert [r.split('"')[0] for r in rows[-5:]] == ["a2b_swd_avg", "a2b_swd_32", "a2b_fid", "b2a_kid", "b2a_kid_std"]
    assert "a2b translations: generated vs real" in table
    assert table.count("<th>step ") == gallery.MAX_METRIC_STEPS and "step 0<" in table and "step 190<" in table
    assert f"{gallery.MAX_METRIC_STEPS} of 20 evaluations shown" in page
