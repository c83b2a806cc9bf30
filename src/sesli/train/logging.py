"""What a run leaves to read while it trains: ``metrics.csv``, TensorBoard events, ``loss.png``.

``metrics.csv`` is long format (``step,epoch,key,value``; keys such as ``train/loss``,
``val/loss``, ``lr``), so tasks can log any keys without a fixed header. On resume, rows after the
resumed step are dropped (they belong to the part of the run that was lost) and a torn last line
from a killed process is discarded, so the file never holds a step twice. TensorBoard gets the same
values (``purge_step`` hides the lost part there too), and ``loss.png`` is redrawn every
``plot_every`` steps, written atomically.
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from pathlib import Path

from sesli.fileio import atomic_open, atomic_path

HEADER = ["step", "epoch", "key", "value"]


def read_metrics(path: str | Path) -> list[tuple[int, int, str, float]]:
    """Rows of a ``metrics.csv`` as ``(step, epoch, key, value)``; malformed rows are skipped."""
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    with open(path, encoding="utf-8", newline="") as fh:
        for row in csv.reader(fh):
            if len(row) != 4 or row == HEADER:
                continue
            try:
                rows.append((int(row[0]), int(row[1]), row[2], float(row[3])))
            except ValueError:
                continue
    return rows


class MetricsLog:
    """Append-only metrics for one run directory (CSV + TensorBoard + loss-curve PNG).

    Args:
        run_dir: the run directory.
        resume_step: the step a resumed run continues from (rows after it are dropped);
            None starts a fresh ``metrics.csv``.
        tensorboard: also write TensorBoard events under ``run_dir/tensorboard``.
        enabled: False on non-main processes (nothing is written).
    """

    def __init__(
        self, run_dir: str | Path, *, resume_step: int | None, tensorboard: bool = True, enabled: bool = True
    ) -> None:
        self.run_dir = Path(run_dir)
        self.csv_path = self.run_dir / "metrics.csv"
        self.png_path = self.run_dir / "loss.png"
        self.enabled = enabled
        self.rows: list[tuple[int, int, str, float]] = []
        self._tb = None
        if not enabled:
            return
        if resume_step is not None:
            self.rows = [r for r in read_metrics(self.csv_path) if r[0] <= resume_step]
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(self.rows)
        with atomic_open(self.csv_path) as fh:
            fh.write(buf.getvalue())
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            purge = None if resume_step is None else resume_step + 1
            self._tb = SummaryWriter(log_dir=str(self.run_dir / "tensorboard"), purge_step=purge)

    def log(self, step: int, epoch: int, values: dict[str, float]) -> None:
        """Record ``values`` at ``step`` (one CSV line per key, flushed at once)."""
        if not self.enabled or not values:
            return
        new = [(int(step), int(epoch), k, float(v)) for k, v in values.items()]
        self.rows += new
        with open(self.csv_path, "a", encoding="utf-8", newline="") as fh:
            csv.writer(fh, lineterminator="\n").writerows(new)
        if self._tb is not None:
            for _, _, k, v in new:
                self._tb.add_scalar(k, v, step)

    def plot(self) -> None:
        """Redraw ``loss.png``: every ``*loss*`` key against step, and the learning rate."""
        if not self.enabled or not self.rows:
            return
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        series: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for step, _, key, value in self.rows:
            if math.isfinite(value):
                series[key].append((step, value))
        losses = sorted(k for k in series if "loss" in k)
        fig, axes = plt.subplots(2 if "lr" in series else 1, 1, figsize=(8, 6), squeeze=False)
        ax = axes[0][0]
        for key in losses:
            xs, ys = zip(*series[key], strict=True)
            ax.plot(xs, ys, label=key, marker="o" if key.startswith("val") else None, markersize=3)
        ax.set_ylabel("loss")
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        if losses:
            ax.legend()
        if "lr" in series:
            xs, ys = zip(*series["lr"], strict=True)
            axes[1][0].plot(xs, ys, color="gray")
            axes[1][0].set_ylabel("learning rate")
            axes[1][0].set_xlabel("step")
            axes[1][0].grid(alpha=0.3)
        fig.tight_layout()
        with atomic_path(self.png_path) as tmp:
            fig.savefig(tmp, format="png", dpi=80)
        plt.close(fig)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.flush()
            self._tb.close()
            self._tb = None
