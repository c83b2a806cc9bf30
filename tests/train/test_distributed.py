"""Two data-parallel processes on CPU (gloo) through torchrun: the same command as on a cluster."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sesli.train.checkpoint import latest_checkpoint

REPO = Path(__file__).resolve().parents[2]
DEBUG_LM = str(REPO / "src" / "sesli" / "configs" / "debug" / "lm.yaml")


def _train(tmp_path: Path, run: str, nproc: int) -> subprocess.CompletedProcess:
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc)]
    argv = ["-m", "sesli.cli", "lm", "train", "--config", DEBUG_LM, "--data-dir", str(tmp_path / "d")]
    argv += ["--run-dir", str(tmp_path / run), "--max-steps", "4", "--batch-size", "2", "--seq-len", "32"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(launcher + argv, capture_output=True, text=True, timeout=240, env=env, cwd=tmp_path)


def test_two_processes_shard_the_data_and_finish(tmp_path):
    from sesli.cli.lm import main

    src = tmp_path / "t.txt"
    src.write_text("Bir varmış bir yokmuş, evvel zaman içinde kalbur saman içinde.\n" * 40, encoding="utf-8")
    assert main(["prepare", "--input-file", str(src), "--output-dir", str(tmp_path / "d")]) == 0
    two = _train(tmp_path, "r2", 2)
    assert two.returncode == 0, two.stdout[-2000:] + two.stderr[-4000:]
    one = _train(tmp_path, "r1", 1)
    assert one.returncode == 0, one.stderr[-4000:]

    def per_epoch(out: str) -> int:
        line = next(ln for ln in out.splitlines() if "per epoch" in ln)
        return int(line.split(" per epoch")[0].split()[-1])

    assert per_epoch(two.stdout + two.stderr) * 2 == per_epoch(one.stdout + one.stderr)
    assert latest_checkpoint(tmp_path / "r2" / "checkpoints").name.endswith("4")
