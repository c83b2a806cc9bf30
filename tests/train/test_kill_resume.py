"""Real process kills: ``sesli lm train`` SIGKILLed mid-run, resumed, SIGTERMed (saves and exits 130),
resumed again, ends with bit-identical weights to a run never interrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from sesli.train.checkpoint import list_checkpoints
from sesli.train.logging import read_metrics

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
DEBUG_LM = REPO / "src" / "sesli" / "configs" / "debug" / "lm.yaml"
MAX_STEPS = 120


def _cmd(data: Path, run: Path) -> list[str]:
    return [
        sys.executable, "-m", "sesli", "lm", "train",
        "--config", str(DEBUG_LM), "--data-dir", str(data), "--run-dir", str(run),
        "--max-steps", str(MAX_STEPS), "--quiet", "train.save_every=10", "train.eval_every=20",
    ]  # fmt: skip


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=str(REPO / "src"))
    env.pop("ACCELERATE_MIXED_PRECISION", None)
    return env


def _wait_for_checkpoint_after(proc: subprocess.Popen, run: Path, step: int, timeout: float = 60.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [s for s, _ in list_checkpoints(run / "checkpoints") if s > step]
        if found:
            return found[-1]
        if proc.poll() is not None:
            pytest.fail(f"training exited early with code {proc.returncode}: {proc.stderr.read()}")
        time.sleep(0.005)
    proc.kill()
    pytest.fail("no checkpoint appeared")


def _final_weights(run: Path) -> dict[str, torch.Tensor]:
    (step, path), *_ = reversed(list_checkpoints(run / "checkpoints"))
    assert step == MAX_STEPS
    return load_file(path / "model.safetensors")


def test_sigkill_then_sigterm_then_resume_equals_uninterrupted(lm_data: Path, tmp_path: Path):
    ref, run = tmp_path / "ref", tmp_path / "run"
    done = subprocess.run(_cmd(lm_data, ref), env=_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr

    # 1. SIGKILL right after the first checkpoint appears: no chance to clean up.
    proc = subprocess.Popen(_cmd(lm_data, run), env=_env(), stderr=subprocess.PIPE, text=True)
    _wait_for_checkpoint_after(proc, run, 0)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    killed_at = list_checkpoints(run / "checkpoints")[-1][0]
    assert 0 < killed_at < MAX_STEPS

    # 2. Resume, then SIGTERM: the run saves a checkpoint at the next step boundary and exits 130.
    proc = subprocess.Popen(_cmd(lm_data, run), env=_env(), stderr=subprocess.PIPE, text=True)
    _wait_for_checkpoint_after(proc, run, killed_at)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 130
    termed_at = list_checkpoints(run / "checkpoints")[-1][0]
    assert killed_at < termed_at < MAX_STEPS
    assert not [p for p in (run / "checkpoints").iterdir() if p.name.startswith(".tmp-")]

    # 3. Resume to the end.
    done = subprocess.run(_cmd(lm_data, run), env=_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr

    a, b = _final_weights(ref), _final_weights(run)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    # metrics.csv holds each (step, key) once, and the same values as the uninterrupted run
    rows = [(s, k) for s, _, k, _ in read_metrics(run / "metrics.csv")]
    assert len(rows) == len(set(rows))

    # (but the timings, perf/tokens_per_s and perf/mfu, which no two runs share)
    def values(r: Path) -> dict[tuple[int, str], float]:
        return {(s, k): v for s, _, k, v in read_metrics(r / "metrics.csv") if not k.startswith("perf/")}

    assert values(run) == values(ref)
