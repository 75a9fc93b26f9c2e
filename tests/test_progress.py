"""Training progress as a person sees it (trainer/progress.py): the line's numbers, a bar on a
terminal and plain lines in a pipe, from a real CLI run in a pseudo-terminal and through a pipe."""
import io
import os
import pty
import re
import subprocess
import sys

import pytest

from datasets import make_dataset
from runs import CONFIGS, ROOT, TINY
from trainer import progress


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_line_has_step_losses_rate_eta_and_samples_after_a_checkpoint():
    clock, out = FakeClock(), io.StringIO()
    reporter = progress.Reporter(1000, 64, "m/samples/latest.png", out=out, clock=clock)
    reporter.report(0, 1.25, 0.5)
    clock.now += 10.0
    reporter.checkpoint(100)
    reporter.report(100, 1.0, 2.0)
    lines = out.getvalue().splitlines()
    assert lines[0] == "step 0/1000  d_loss 1.25  g_loss 0.5"
    assert lines[1] == "checkpoint at step 100; samples m/samples/latest.png"
    # 100 steps in 10 s at batch 64: 640 img/s; 900 steps left at 10 steps/s: 90 s
    assert lines[2] == "step 100/1000  d_loss 1  g_loss 2  640.0 img/s  ETA 1m30s  samples m/samples/latest.png"


def test_eta_is_capped_by_the_time_budget():
    clock, out = FakeClock(), io.StringIO()
    reporter = progress.Reporter(10_000, 1, "x", out=out, clock=clock, budget_minutes=1)
    reporter.report(0, 1, 1)
    clock.now += 30.0
    reporter.report(10, 1, 1)  # 9990 steps at 1/3 step/s would take hours; 30 s of budget are left
    assert out.getvalue().splitlines()[1].endswith("ETA 30s")


def test_a_terminal_gets_a_bar_redrawn_in_place_and_ended_by_a_checkpoint():
    out = Terminal()
    reporter = progress.Reporter(4, 1, "s.png", out=out, clock=FakeClock())
    reporter.report(0, 1, 1)
    reporter.report(2, 1, 1)
    reporter.checkpoint(2)
    text = out.getvalue()
    assert text.count("\r\033[K[") == 2 and "[############............] step 2/4" in text
    assert text.endswith("step 2/4  d_loss 1  g_loss 1\ncheckpoint at step 2; samples s.png\n")


@pytest.mark.parametrize("seconds, text", [(5, "5s"), (65, "1m05s"), (3 * 3600 + 120, "3h02m")])
def test_duration(seconds, text):
    assert progress.duration(seconds) == text


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_dataset(str(tmp_path_factory.mktemp("progress") / "d"), 32, count=8)


def _train_command(data, model_dir):
    return [sys.executable, "-m", "trainer.task", "--config", os.path.join(CONFIGS, "dcgan_32.yaml"),
            "--config", TINY, "--set", f"train_data={data}", "--set", "train_steps=4",
            "--set", "summary_every_steps=2", "--set", "save_checkpoints_steps=4", "--model_dir", model_dir]


def test_cli_through_a_pipe_prints_plain_lines_and_no_tensorflow_noise(data, tmp_path):
    result = subprocess.run(_train_command(data, str(tmp_path / "m")), cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert "\r" not in result.stdout
    steps = [line for line in lines if line.startswith("step ")]
    assert [line.split()[1] for line in steps] == ["0/4", "2/4"]
    assert re.search(r"img/s  ETA \d+s", steps[1])
    assert any(line.startswith("checkpoint at step 4; samples ") for line in lines)
    assert lines[-1].startswith("trained to step 4")
    assert not [line for line in (result.stdout + result.stderr).splitlines()
                if "WARNING" in line or "deprecat" in line.lower() or "tensorflow/" in line]


def test_cli_in_a_terminal_draws_a_progress_bar(data, tmp_path):
    leader, follower = pty.openpty()
    process = subprocess.Popen(_train_command(data, str(tmp_path / "m")), cwd=ROOT, stdout=follower,
                               stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed: the process has exited
            break
        if not chunk:
            break
        chunks.append(chunk)
    assert process.wait(timeout=300) == 0, process.stderr.read()[-2000:]
    os.close(leader)
    screen = b"".join(chunks).decode()
    assert "\r\x1b[K[" in screen and "] step 2/4" in screen
    assert "checkpoint at step 4" in screen


def test_a_task_in_a_pipe_prints_about_ten_plain_lines_ending_at_the_total():
    clock, out = FakeClock(), io.StringIO()
    task = progress.TaskProgress("evaluate: batch", 95, out=out, clock=clock)
    for done in range(96):
        clock.now += 0.5
        task.update(done)
    lines = out.getvalue().splitlines()
    assert 10 <= len(lines) <= progress.PLAIN_REPORTS + 2 and "\r" not in out.getvalue()
    assert lines[0].startswith("evaluate: batch 0/95")
    assert re.fullmatch(r"evaluate: batch 9/95  ETA \d+s", lines[1]), lines[1]
    assert lines[-1] == "evaluate: batch 95/95  done in 48s"


def test_a_task_on_a_terminal_redraws_one_bar_and_ends_the_line():
    out = Terminal()
    task = progress.TaskProgress("predict", 4, out=out, clock=FakeClock())
    for _ in range(4):
        task.advance()
    text = out.getvalue()
    assert text.count("\r\x1b[K[") == 4 and text.endswith("predict 4/4  done in 0s\n")
    assert "[" + "#" * progress.BAR_WIDTH + "]" in text


def test_cli_evaluate_predict_export_report_progress_on_stderr_and_results_on_stdout(data, tmp_path):
    model_dir = str(tmp_path / "m")
    assert subprocess.run(_train_command(data, model_dir), cwd=ROOT, capture_output=True, timeout=300).returncode == 0

    def cli(mode, *extra):
        result = subprocess.run([sys.executable, "-m", "trainer.task", "--model_dir", model_dir, "--mode", mode,
                                 "--set", "eval_steps=3", "--set", "quality_metrics=false", *extra],
                                cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
        return result

    evaluated = cli("evaluate")
    import json
    assert json.loads(evaluated.stdout)["global_step"] == 4  # stdout is the result alone
    assert evaluated.stderr.splitlines()[0] == "evaluate: batch 0/3"
    assert re.search(r"^evaluate: batch 3/3  done in \d+s$", evaluated.stderr, re.M)
    predicted = cli("predict")
    assert re.search(r"^predict 4/4  done in \d+s$", predicted.stderr, re.M), predicted.stderr  # num_samples (tiny)
    exported = cli("export")
    assert re.search(r"^export: SavedModel 1/1  done in \d+s$", exported.stderr, re.M)
    assert exported.stdout.startswith("exported SavedModel to ")
    for result in (evaluated, predicted, exported):
        assert not [line for line in result.stderr.splitlines()
                    if "WARNING" in line or "deprecat" in line.lower() or "tensorflow/" in line]


def test_a_task_that_stops_short_ends_with_what_it_did():
    out = io.StringIO()
    task = progress.TaskProgress("neighbours: training images", 10000, out=out, clock=FakeClock())
    task.advance(300)
    task.advance(212)
    task.finish()
    assert out.getvalue().splitlines()[-1] == "neighbours: training images 512/512  done in 0s"
