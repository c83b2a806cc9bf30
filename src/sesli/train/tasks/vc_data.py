"""Data for voice-conversion training: an experiment's clips as frame-aligned features, pitch, audio.

One item per prepared piece ``{stem}`` of a :class:`~sesli.data.vc_experiment.Experiment`:

* ``3_feature768/{stem}.npy`` (or ``3_feature256``): content features ``(T', C)`` at 50 frames/s,
  repeated twice to the model's 100 frames/s (RVC's ``np.repeat(phone, 2)``);
* ``2a_f0/{stem}.npy`` coarse pitch 1..255 (int64) and ``2b-f0nsf/{stem}.npy`` pitch in Hz
  (float32), 100 frames/s (pitch models only);
* the recording at the model's rate: ``0_gt_wavs/{stem}.wav`` when the experiment's rate is the
  model's, the 16 kHz copy ``1_16k_wavs`` for a 16 kHz model (the ``tiny`` preset), else the
  target-rate piece resampled with soxr.

All of them are trimmed to the shortest, ``T = min(2 T', pitch frames, samples // hop)`` frames,
and the audio to ``T * hop`` samples (RVC's loader does the same), so frame ``t`` of the features,
the pitch and the linear spectrogram describe samples ``[t hop, (t + 1) hop)``. The spectrogram
is not computed here but in the task step, on the batch's device (one STFT; it keeps the loader
light, as the VITS task does): ``samples // hop`` frames is exactly what it will have.

Held-out clips (:func:`split_clips`) are chosen evenly over the natural order of the stems, so the
split is the same on every run and draws from different source files. A clip that cannot train
(a missing file, fewer than two frames) is left out with a line naming it and why; features of
another size than the model's stop with an error naming the experiment's version.

Every clip is speaker ``speaker`` (0: RVC's default, one voice per experiment).

Letters: B batch, T frames (100 per second), C content-feature size, N samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset


class VcTrainError(RuntimeError):
    """Voice-conversion training cannot start: no extracted clips, bad settings or weights."""


@dataclass
class VcClip:
    """One training piece of an experiment."""

    stem: str
    audio_path: Path  # at the model's rate when ``resample`` is False
    feature_path: Path
    f0_coarse_path: Path | None  # None for a model without pitch
    f0_hz_path: Path | None
    speaker: int = 0


@dataclass
class VcBatch:
    """A padded batch; everything past an item's ``lengths`` frames is zero."""

    feats: Tensor  # (B, T, C) float32 at 100 frames/s
    lengths: Tensor  # (B,) frames
    pitch: Tensor | None  # (B, T) int64 coarse 1..255 (pad 0), None without pitch
    pitchf: Tensor | None  # (B, T) float32 Hz, None without pitch
    wavs: Tensor  # (B, N) float32, N = T * hop
    speakers: Tensor  # (B,) int64
    stems: list[str] = field(default_factory=list)

    def to(self, device: torch.device | str) -> VcBatch:
        def move(t: Tensor | None) -> Tensor | None:
            return None if t is None else t.to(device)

        return VcBatch(
            feats=self.feats.to(device),
            lengths=self.lengths.to(device),
            pitch=move(self.pitch),
            pitchf=move(self.pitchf),
            wavs=self.wavs.to(device),
            speakers=self.speakers.to(device),
            stems=self.stems,
        )


class VcClipDataset(Dataset):
    """Loads and frame-aligns one clip per item (see the module docstring).

    Args:
        clips: the clips.
        sample_rate: the model's rate (audio is resampled to it when the file has another).
        hop: audio samples per model frame.
        feature_dim: the model's content-feature size (checked on every load).
    """

    def __init__(self, clips: Sequence[VcClip], *, sample_rate: int, hop: int, feature_dim: int) -> None:
        self.clips = list(clips)
        self.sample_rate, self.hop, self.feature_dim = sample_rate, hop, feature_dim

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int) -> dict[str, Any]:
        from sesli.audio.io import AudioDecodeError, load_audio

        clip = self.clips[index]
        try:
            wav, _ = load_audio(clip.audio_path, sr=self.sample_rate)
        except AudioDecodeError as err:
            raise VcTrainError(f"clip {clip.stem}: {err}") from None
        feats = np.load(clip.feature_path).astype(np.float32, copy=False)  # (T', C) at 50 fps
        if feats.ndim != 2 or feats.shape[1] != self.feature_dim:
            raise VcTrainError(
                f"{clip.feature_path}: features of shape {feats.shape}, but the model takes "
                f"{self.feature_dim}-d features; re-run `sesli vc extract` with this experiment's version"
            )
        feats = np.repeat(feats, 2, axis=0)  # (2 T', C) at 100 fps, as RVC
        frames = [len(feats), len(wav) // self.hop]
        pitch = pitchf = None
        if clip.f0_coarse_path is not None and clip.f0_hz_path is not None:
            pitch = np.load(clip.f0_coarse_path).astype(np.int64, copy=False).reshape(-1)
            pitchf = np.load(clip.f0_hz_path).astype(np.float32, copy=False).reshape(-1)
            frames += [len(pitch), len(pitchf)]
        n = min(frames)
        item = {
            "stem": clip.stem,
            "feats": torch.from_numpy(np.ascontiguousarray(feats[:n])),  # (T, C)
            "wav": torch.from_numpy(np.ascontiguousarray(wav[: n * self.hop], dtype=np.float32)),  # (N,)
            "speaker": clip.speaker,
        }
        if pitch is not None:
            item["pitch"] = torch.from_numpy(np.ascontiguousarray(pitch[:n]))
            item["pitchf"] = torch.from_numpy(np.ascontiguousarray(pitchf[:n]))
        return item


def collate(items: list[dict[str, Any]]) -> VcBatch:
    """Pad :class:`VcClipDataset` items into a :class:`VcBatch`."""
    pad = torch.nn.utils.rnn.pad_sequence
    has_pitch = "pitch" in items[0]
    return VcBatch(
        feats=pad([it["feats"] for it in items], batch_first=True),  # (B, T, C)
        lengths=torch.tensor([len(it["feats"]) for it in items]),
        pitch=pad([it["pitch"] for it in items], batch_first=True) if has_pitch else None,  # (B, T)
        pitchf=pad([it["pitchf"] for it in items], batch_first=True) if has_pitch else None,
        wavs=pad([it["wav"] for it in items], batch_first=True),  # (B, N)
        speakers=torch.tensor([it["speaker"] for it in items], dtype=torch.long),
        stems=[it["stem"] for it in items],
    )


def find_clips(
    exp: Any, *, sample_rate: int, speaker: int = 0, min_frames: int = 2
) -> tuple[list[VcClip], dict[str, list[str]]]:
    """The experiment's clips that have every file training needs.

    Args:
        exp: an :class:`~sesli.data.vc_experiment.Experiment`.
        sample_rate: the model's rate (picks the audio folder, see the module docstring).
        speaker: the speaker id of every clip.
        min_frames: clips with fewer 100-fps feature frames are left out.

    Returns:
        ``(kept, left_out)``: the clips in natural order, and the stems left out by reason.
    """
    audio_dir = exp.wav16k_dir if sample_rate == 16000 != exp.sample_rate else exp.gt_dir
    kept, left_out = [], {}
    for stem in exp.clips():
        feat = exp.feature_dir / f"{stem}.npy"
        coarse = exp.f0_coarse_dir / f"{stem}.npy" if exp.f0 else None
        hz = exp.f0_hz_dir / f"{stem}.npy" if exp.f0 else None
        reason = None
        if not feat.is_file():
            reason = f"no content features ({exp.feature_dir.name}/)"
        elif exp.f0 and not (coarse.is_file() and hz.is_file()):
            reason = f"no pitch ({exp.f0_coarse_dir.name}/ or {exp.f0_hz_dir.name}/)"
        elif 2 * np.load(feat, mmap_mode="r").shape[0] < min_frames:
            reason = f"shorter than {min_frames} frames"
        if reason:
            left_out.setdefault(reason, []).append(stem)
        else:
            kept.append(VcClip(stem, audio_dir / f"{stem}.wav", feat, coarse, hz, speaker))
    return kept, left_out


def split_clips(clips: Sequence[VcClip], n_val: int) -> tuple[list[VcClip], list[VcClip]]:
    """``(train, val)``: ``n_val`` clips held out, evenly spaced over the (natural) order.

    At least one clip always trains; with ``n_val`` 0 (or a single clip) the validation set is the
    training set, so the validation loss then measures fit, not generalisation.
    """
    clips = list(clips)
    k = max(0, min(n_val, len(clips) - 1))
    if k == 0:
        return clips, clips
    picked = {int((i + 0.5) * len(clips) / k) for i in range(k)}
    return [c for i, c in enumerate(clips) if i not in picked], [
        c for i, c in enumerate(clips) if i in picked
    ]


def describe_left_out(left_out: dict[str, list[str]]) -> str:
    """One line per reason, naming up to five clips."""
    lines = []
    for reason, stems in left_out.items():
        more = f" and {len(stems) - 5} more" if len(stems) > 5 else ""
        lines.append(f"{len(stems)} clip(s) left out, {reason}: {', '.join(stems[:5])}{more}")
    return "\n".join(lines)


@dataclass
class VcSplits:
    """Data loaders for the engine and a summary for the artifact and the experiment record."""

    train: DataLoader
    val: DataLoader
    summary: dict[str, Any]


def load_splits(
    exp: Any,
    *,
    sample_rate: int,
    hop: int,
    feature_dim: int,
    batch_size: int,
    seed: int,
    val_clips: int = 2,
    speaker: int = 0,
    num_workers: int = 0,
    quiet: bool = False,
) -> VcSplits:
    """The experiment's checked clips as the engine's loaders (train shuffled per epoch, val in order).

    Raises:
        VcTrainError: no clip has its features (and pitch) yet, or the features' size is not the model's.
    """
    from sesli.train.sampler import EpochSampler

    clips, left_out = find_clips(exp, sample_rate=sample_rate, speaker=speaker)
    notes = describe_left_out(left_out)
    if not clips:
        n = len(exp.clips())
        what = f"{n} prepared clip(s), none with its features" if n else "no prepared clips"
        first = f"sesli vc extract {exp.path}" if n else f"sesli vc prepare {exp.path} INPUT..."
        raise VcTrainError(f"{exp.path}: {what}; run `{first}` first" + (f"\n{notes}" if notes else ""))
    width = np.load(clips[0].feature_path, mmap_mode="r").shape[-1]
    if width != feature_dim:
        raise VcTrainError(
            f"{exp.feature_dir} holds {width}-d features but the model takes {feature_dim}-d "
            f"({'v1' if feature_dim == 256 else 'v2'}); extract them again or choose the matching version"
        )
    if notes and not quiet:
        print(notes)
    train, val = split_clips(clips, val_clips)
    if val is train and not quiet:
        print(f"{len(clips)} clip(s): no clip held out, validating on the training clips")
    kw = {"sample_rate": sample_rate, "hop": hop, "feature_dim": feature_dim}
    train_set, val_set = VcClipDataset(train, **kw), VcClipDataset(val, **kw)
    summary = {
        "experiment": str(Path(exp.path).resolve()),
        "train_clips": len(train_set),
        "val_clips": [c.stem for c in val],
        "held_out": val is not train,
        "left_out": {reason: len(stems) for reason, stems in left_out.items()},
        "audio": audio_source(exp, sample_rate),
    }
    return VcSplits(
        train=DataLoader(
            train_set,
            batch_size=batch_size,
            sampler=EpochSampler(len(train_set), seed=seed),
            collate_fn=collate,
            num_workers=num_workers,
        ),
        val=DataLoader(
            val_set, batch_size=batch_size, shuffle=False, collate_fn=collate, num_workers=num_workers
        ),
        summary=summary,
    )


def audio_source(exp: Any, sample_rate: int) -> str:
    """Where the training audio comes from, in words (for the start-up line and the record)."""
    if sample_rate == exp.sample_rate:
        return f"{exp.gt_dir.name}/ at {sample_rate} Hz"
    if sample_rate == 16000:
        return f"{exp.wav16k_dir.name}/ (the model is 16 kHz)"
    return f"{exp.gt_dir.name}/ resampled {exp.sample_rate} -> {sample_rate} Hz"


__all__ = [
    "VcBatch",
    "VcClip",
    "VcClipDataset",
    "VcSplits",
    "VcTrainError",
    "audio_source",
    "collate",
    "describe_left_out",
    "find_clips",
    "load_splits",
    "split_clips",
]
