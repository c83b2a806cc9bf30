"""Write an evaluation report: ``report.json`` and ``report.png`` (per-utterance bars + summary).

The figure has one panel per metric that has a value for at least one utterance; the CER panel
shows the recordings' CER (the same ASR on the ground truth) beside the model's.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from sesli.eval.evaluate import EvalReport
from sesli.fileio import atomic_path, write_json

# (utterance key, label, what the summary value is, key drawn beside it in grey)
PANELS = (("mcd", "MCD (dB)", "mean", None), ("f0_rmse_cents", "F0 RMSE (cents)", "mean", None),
          ("voicing_error", "voicing error", "mean", None), ("duration_error", "duration error (frames)", "mean", None),
          ("cer", "CER", "corpus", "reference_cer"))  # fmt: skip


def write_report(report: EvalReport, out_dir: str | os.PathLike, *, title: str = "") -> tuple[Path, Path]:
    """Write ``report.json`` and ``report.png`` into ``out_dir`` (atomically); returns both paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = report.to_dict()
    data["title"] = title
    json_path, png_path = out / "report.json", out / "report.png"
    write_json(json_path, data)
    ids = [u.id for u in report.utterances]
    panels = [p for p in PANELS if any(getattr(u, p[0]) is not None for u in report.utterances)] or PANELS[:1]
    fig, axes = plt.subplots(len(panels), 1, figsize=(max(6, 0.4 * len(ids) + 2), 2.2 * len(panels)),
                             squeeze=False)  # fmt: skip
    axes = axes[:, 0]
    x = np.arange(len(ids))
    for ax, (key, label, stat, beside) in zip(axes, panels, strict=True):
        width = 0.4 if beside else 0.8
        ax.bar(x - (width / 2 if beside else 0), _values(report, key), width, color="tab:blue", label="model")
        heading = _title(label, stat, report.summary.get(key))
        if beside:
            ax.bar(x + width / 2, _values(report, beside), width, color="tab:gray", label="recordings")
            ax.legend(fontsize=6)
            heading += "; " + _title("recordings", stat, report.summary.get(beside))
        ax.set_ylabel(label, fontsize=8)
        ax.set_title(heading, fontsize=9)
        ax.set_xticks(x)
        ax.set_xticklabels(ids if ax is axes[-1] else [], rotation=90, fontsize=6)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(png_path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return json_path, png_path


def _values(report: EvalReport, key: str) -> list[float]:
    return [float("nan") if (v := getattr(u, key)) is None else v for u in report.utterances]


def _title(label: str, stat: str, value: float | None) -> str:
    return f"{label}: {stat} {value:.3f}" if value is not None else f"{label}: n/a"


__all__ = ["write_report"]
