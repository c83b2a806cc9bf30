"""metrics.csv: resume drops rows past the resumed step and a torn last line; the plot is a PNG."""

from __future__ import annotations

from sesli.train.logging import MetricsLog, read_metrics


def test_resume_truncates_and_drops_torn_line(tmp_path):
    log = MetricsLog(tmp_path, resume_step=None, tensorboard=False)
    for step in range(1, 6):
        log.log(step, 0, {"train/loss": 1.0 / step, "lr": 0.1})
    log.close()
    with open(tmp_path / "metrics.csv", "a", encoding="utf-8") as fh:
        fh.write("6,0,train/lo")  # a process killed mid-write
    log = MetricsLog(tmp_path, resume_step=3, tensorboard=False)
    assert [r[0] for r in read_metrics(tmp_path / "metrics.csv")] == [1, 1, 2, 2, 3, 3]
    log.log(4, 0, {"train/loss": 9.0})
    rows = read_metrics(tmp_path / "metrics.csv")
    assert rows[-1] == (4, 0, "train/loss", 9.0) and len(rows) == 7
    log.plot()
    assert (tmp_path / "loss.png").read_bytes()[:4] == b"\x89PNG"
    fresh = MetricsLog(tmp_path, resume_step=None, tensorboard=False)  # a fresh run starts over
    assert read_metrics(tmp_path / "metrics.csv") == [] and fresh.rows == []
