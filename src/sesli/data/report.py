"""What a preparation run produced: counts, hours, rejects by reason, per speaker; a duration plot."""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from pathlib import Path

from sesli.fileio import atomic_path, write_json


@dataclass
class Summary:
    """Totals of one run (what ``stats.json`` holds).

    Attributes:
        sample_rate: output rate.
        inputs: source entries seen (each ends in exactly one of train, val, rejects).
        kept: utterances written, per split.
        seconds: seconds of kept audio, per split.
        rejected: rejects by reason (slices of a kept recording included).
        speakers: per speaker: utterances and seconds.
        durations: kept durations in seconds (for the histogram).
    """

    sample_rate: int
    inputs: int = 0
    kept: dict[str, int] = field(default_factory=lambda: {"train": 0, "val": 0})
    seconds: dict[str, float] = field(default_factory=lambda: {"train": 0.0, "val": 0.0})
    rejected: dict[str, int] = field(default_factory=collections.Counter)
    speakers: dict[str, dict] = field(default_factory=dict)
    durations: list[float] = field(default_factory=list, repr=False)

    @property
    def hours(self) -> float:
        """Hours of kept audio (train + val)."""
        return sum(self.seconds.values()) / 3600.0

    @property
    def n_rejected(self) -> int:
        return sum(self.rejected.values())

    def add_utterance(self, utt: dict, split: str) -> None:
        self.kept[split] += 1
        self.seconds[split] += utt["duration"]
        spk = self.speakers.setdefault(utt["speaker"], {"utterances": 0, "seconds": 0.0})
        spk["utterances"] += 1
        spk["seconds"] += utt["duration"]
        self.durations.append(utt["duration"])

    def add_reject(self, reason: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1

    def to_dict(self) -> dict:
        return {
            "sample_rate": self.sample_rate,
            "inputs": self.inputs,
            "kept": dict(self.kept),
            "rejected": self.n_rejected,
            "rejected_by_reason": dict(sorted(self.rejected.items(), key=lambda kv: -kv[1])),
            "hours": round(self.hours, 6),
            "hours_by_split": {k: round(v / 3600.0, 6) for k, v in self.seconds.items()},
            "duration_seconds": _describe(self.durations),
            "speakers": {
                k: {"utterances": v["utterances"], "hours": round(v["seconds"] / 3600.0, 6)}
                for k, v in sorted(self.speakers.items())
            },  # fmt: skip
        }

    def text(self) -> str:
        """A human summary: kept, rejected by reason, hours."""
        lines = [
            f"kept {sum(self.kept.values())} utterance(s) ({self.kept['train']} train, {self.kept['val']} val), "
            f"{self.hours:.3f} h at {self.sample_rate} Hz, from {self.inputs} source clip(s)",
            f"rejected {self.n_rejected}" + (":" if self.rejected else ""),
        ]
        lines += [f"  {n:6d}  {reason}" for reason, n in sorted(self.rejected.items(), key=lambda kv: -kv[1])]
        return "\n".join(lines)


def _describe(values: list[float]) -> dict:
    if not values:
        return {"count": 0}
    import numpy as np

    arr = np.asarray(values)
    return {
        "count": int(arr.size),
        "min": round(float(arr.min()), 3),
        "mean": round(float(arr.mean()), 3),
        "median": round(float(np.median(arr)), 3),
        "max": round(float(arr.max()), 3),
    }


def plot_durations(path: str | Path, durations: list[float]) -> None:
    """Histogram of clip durations as a PNG (matplotlib, Agg backend, written atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.hist(durations or [0.0], bins=min(50, max(5, len(durations) // 5)), color="#3b6ea5")
    ax.set_xlabel("duration (s)")
    ax.set_ylabel("clips")
    ax.set_title(f"{len(durations)} clips, {sum(durations) / 3600:.2f} h")
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def write_report(out: str | Path, summary: Summary) -> None:
    """Write ``stats.json`` and ``durations.png`` into ``out``."""
    out = Path(out)
    write_json(out / "stats.json", summary.to_dict())
    plot_durations(out / "durations.png", summary.durations)
