"""Write an evaluation report: ``report.json`` and ``report.png`` (per-utterance bars + summary)."""

from __future__ import annotations

import os
from pathlib import Path

from sesli.eval.evaluate import EvalReport
from sesli.fileio import atomic_path, write_json

PANELS = (("mcd", "MCD (dB)"), ("f0_rmse_cents", "F0 RMSE (cents)"), ("voicing_error", "voicing error"),
          ("duration_error", "duration error (frames)"))  # fmt: skip


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
    fig, axes = plt.subplots(len(PANELS), 1, figsize=(max(6, 0.4 * len(ids) + 2), 2.2 * len(PANELS)))
    for ax, (key, label) in zip(axes, PANELS, strict=True):
        values = [getattr(u, key) for u in report.utterances]
        shown = [float("nan") if v is None else v for v in values]
        ax.bar(range(len(ids)), shown, color="tab:blue")
        mean = report.summary.get(key)
        ax.set_ylabel(label, fontsize=8)
        ax.set_title(f"{label}: mean {mean:.3f}" if mean is not None else f"{label}: n/a", fontsize=9)
        ax.set_xticks(range(len(ids)))
        ax.set_xticklabels(ids if ax is axes[-1] else [], rotation=90, fontsize=6)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(png_path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return json_path, png_path


__all__ = ["write_report"]
