"""Pitch (F0) for voice conversion: extraction at 100 frames/s, RVC's coarse scale, shifting.

RVC conditions its generator on F0 twice: in Hz (the NSF source, ``2b-f0nsf``) and as a coarse
1..255 index on a mel-like scale (an embedding input, ``2a_f0``). Both are frame-aligned with the
content features, which run at 16 kHz with a hop of 160 samples: 100 frames/s. Frames are centred,
so a clip of T samples has ``1 + T // hop`` frames, as every sesli feature has
(:mod:`sesli.audio.features`).

Methods:

* ``harvest`` and ``dio``: pyworld through :func:`sesli.audio.features.f0`; harvest is then
  median-filtered as RVC's pipeline does (kernel 3 when ``filter_radius >= 3``).
* ``rmvpe``: the RMVPE network (:mod:`sesli.models.vc.rmvpe`). ``sesli.audio`` sits below
  ``sesli.models`` (STYLE.md: imports flow one way), so this module never loads the network: the
  caller loads it once with ``sesli.models.vc.rmvpe.load_rmvpe(path)`` and passes ``model=``.
* ``fcpe``: the optional ``torchfcpe`` package (it bundles its weights) when it imports.
* ``crepe``: not wired; the error says what to use instead.

Unvoiced frames are 0 Hz everywhere.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Protocol

import numpy as np

from sesli.audio import features

F0_MIN = 50.0  # Hz, RVC's floor for extraction and for the coarse scale
F0_MAX = 1100.0  # Hz, RVC's ceiling
F0_METHODS = ("harvest", "dio", "rmvpe", "fcpe")
MIN_HOPS = 4  # shortest clip accepted, in hops (40 ms at 16 kHz / 160)

RMVPE_HELP = (
    "rmvpe.pt ships with RVC and Applio as assets/rmvpe/rmvpe.pt (download it with either); "
    "pass its location with --f0-model PATH, or use --f0-method harvest (no weights needed)"
)
_NOT_WIRED = {
    "crepe": "crepe is not supported by sesli; use rmvpe (more accurate, needs rmvpe.pt) or harvest",
    "pm": "pm (parselmouth) is not used by sesli (Praat is GPL); use harvest or dio",
}


class PitchError(ValueError):
    """Bad input to pitch extraction: audio, method or model weights."""


class F0Model(Protocol):
    """A loaded pitch network: 16 kHz mono audio in, F0 in Hz per 10 ms frame out (0 = unvoiced)."""

    def infer(self, wav16k: np.ndarray) -> np.ndarray: ...


def _hz_to_coarse_mel(f0_hz: np.ndarray) -> np.ndarray:
    return 1127.0 * np.log(1.0 + f0_hz / 700.0)


def coarse_f0(f0_hz: np.ndarray) -> np.ndarray:
    """F0 in Hz to RVC's coarse pitch index in 1..255 (1 = unvoiced), int64, same shape.

    ``mel = 1127 ln(1 + f0 / 700)``, then voiced frames map linearly so that ``F0_MIN`` (50 Hz)
    lands on 1 and ``F0_MAX`` (1100 Hz) on 255: ``(mel - mel_min) * 254 / (mel_max - mel_min) + 1``,
    clipped to [1, 255] and rounded half to even (``np.rint``, as RVC).
    """
    f0_hz = np.asarray(f0_hz, dtype=np.float64)
    mel_min, mel_max = _hz_to_coarse_mel(np.array([F0_MIN, F0_MAX]))
    mel = _hz_to_coarse_mel(np.maximum(f0_hz, 0.0))
    voiced = mel > 0
    mel[voiced] = (mel[voiced] - mel_min) * 254.0 / (mel_max - mel_min) + 1.0
    return np.rint(np.clip(mel, 1.0, 255.0)).astype(np.int64)


def shift_f0(f0_hz: np.ndarray, semitones: float) -> np.ndarray:
    """Shift voiced frames by ``semitones`` (x ``2 ** (n / 12)``); unvoiced frames stay 0. float32."""
    f0_hz = np.asarray(f0_hz, dtype=np.float32)
    factor = np.float32(2.0 ** (semitones / 12.0))
    return np.where(f0_hz > 0, f0_hz * factor, np.float32(0.0)).astype(np.float32)


def check_model_path(path: str | Path | None, method: str = "rmvpe") -> Path:
    """The weights file for ``method`` as a Path, or a :class:`PitchError` saying where to get it."""
    if path is None:
        raise PitchError(f"f0 method {method!r} needs model weights; {RMVPE_HELP}")
    p = Path(path).expanduser()
    if not p.is_file():
        raise PitchError(f"f0 model file not found: {p}; {RMVPE_HELP}")
    return p


def _check_audio(wav: np.ndarray, hop_length: int) -> np.ndarray:
    x = np.asarray(wav)
    if x.ndim == 2 and 1 in x.shape:
        x = x.reshape(-1)
    if x.ndim != 1:
        raise PitchError(f"pitch: expected mono audio of shape (T,), got {x.shape}; mix to mono first")
    if not np.issubdtype(x.dtype, np.floating):
        raise PitchError(f"pitch: expected float audio in [-1, 1], got dtype {x.dtype}")
    if len(x) == 0:
        raise PitchError("pitch: audio is empty")
    if len(x) < MIN_HOPS * hop_length:
        raise PitchError(
            f"pitch: audio is too short ({len(x)} samples); need at least {MIN_HOPS * hop_length} "
            f"({MIN_HOPS} hops of {hop_length})"
        )
    if not np.isfinite(x).all():
        raise PitchError("pitch: audio has NaN or inf samples")
    return x.astype(np.float32)


def _fit_length(f0: np.ndarray, n_frames: int) -> np.ndarray:
    """Crop or zero-pad (unvoiced) at the end to exactly ``n_frames``."""
    out = np.zeros(n_frames, dtype=np.float32)
    n = min(n_frames, len(f0))
    out[:n] = np.nan_to_num(np.asarray(f0, dtype=np.float32).reshape(-1)[:n])
    return out


@functools.lru_cache(maxsize=2)
def _fcpe_model(model_path: str | None, device: str):
    try:
        import torchfcpe
    except (ImportError, OSError) as err:  # OSError: a torchaudio built for another torch
        raise PitchError(
            "fcpe needs the torchfcpe package (it bundles its weights) and a torchaudio built for "
            f"your torch: pip install torchfcpe (import failed: {err}); or use --f0-method rmvpe/harvest"
        ) from err
    if model_path is None:
        return torchfcpe.spawn_bundled_infer_model(device=device)
    return torchfcpe.spawn_infer_model_from_pt(str(check_model_path(model_path, "fcpe")), device=device)


def _fcpe(x, sample_rate, f0_min, f0_max, n_frames, model_path, device) -> np.ndarray:
    import torch

    model = _fcpe_model(None if model_path is None else str(model_path), str(device))
    audio = torch.from_numpy(x)[None, :, None].to(device)  # (1, T, 1), torchfcpe's layout
    with torch.inference_mode():
        f0 = model.infer(
            audio,
            sr=sample_rate,
            decoder_mode="local_argmax",
            threshold=0.006,  # torchfcpe's default voicing threshold
            f0_min=f0_min,
            f0_max=f0_max,
            interp_uv=False,
            output_interp_target_length=n_frames,
        )
    return f0.reshape(-1).float().cpu().numpy()


def _model_f0(x, method, sample_rate, hop_length, model, model_path) -> np.ndarray:
    if sample_rate != 16000 or hop_length != 160:
        raise PitchError(
            f"{method} works on 16 kHz audio with a hop of 160, got {sample_rate} Hz / {hop_length}"
        )
    if model is None:
        path = check_model_path(model_path, method)
        raise PitchError(
            f"{method}: load the network once with sesli.models.vc.rmvpe.load_rmvpe({str(path)!r}) "
            "and pass it as model= (sesli.audio does not load networks)"
        )
    return np.asarray(model.infer(x), dtype=np.float32)


def extract_f0(
    wav16k: np.ndarray,
    method: str = "harvest",
    *,
    sample_rate: int = 16000,
    hop_length: int = 160,
    f0_min: float = F0_MIN,
    f0_max: float = F0_MAX,
    filter_radius: int = 3,
    model_path: str | Path | None = None,
    device: str = "cpu",
    model: F0Model | None = None,
) -> np.ndarray:
    """F0 in Hz per frame (0 = unvoiced), float32 of length ``1 + len(wav16k) // hop_length``.

    At the defaults that is 100 frames/s, aligned with 16 kHz content features (frame i centred on
    sample ``i * hop_length``).

    Args:
        wav16k: mono float audio in [-1, 1], shape (T,), at ``sample_rate``.
        method: one of ``F0_METHODS``.
        sample_rate: rate of ``wav16k``; rmvpe and fcpe need 16000.
        hop_length: samples per frame; rmvpe and fcpe need 160.
        f0_min: lowest F0 searched (harvest, dio, fcpe), Hz.
        f0_max: highest F0 searched (harvest, dio, fcpe), Hz.
        filter_radius: RVC's setting: harvest output is median-filtered (kernel 3) when >= 3.
        model_path: weights file: checked for rmvpe; for fcpe, a torchfcpe ``.pt`` instead of the
            bundled model.
        device: torch device for fcpe.
        model: the loaded rmvpe network (``sesli.models.vc.rmvpe.load_rmvpe``), anything with
            ``infer(wav16k) -> f0``.

    Raises:
        PitchError: unknown method, bad audio (empty, shorter than ``MIN_HOPS`` hops, NaN,
            multi-channel, integer samples), or missing weights.
    """
    if method in _NOT_WIRED:
        raise PitchError(_NOT_WIRED[method])
    if method not in F0_METHODS:
        raise PitchError(f"unknown f0 method {method!r}; known: {', '.join(F0_METHODS)}")
    x = _check_audio(wav16k, hop_length)
    n_frames = 1 + len(x) // hop_length
    if method in ("harvest", "dio"):
        f0 = features.f0(x, sample_rate, hop_length, f0_floor=f0_min, f0_ceil=f0_max, method=method)
        if method == "harvest" and filter_radius >= 3:
            # RVC's pipeline: `if filter_radius > 2: signal.medfilt(f0, 3)`; the radius only switches
            # the filter on, the kernel stays 3 (10 ms either side), so vibrato survives.
            from scipy.signal import medfilt

            f0 = medfilt(f0.astype(np.float64), 3)
    elif method == "fcpe":
        f0 = _fcpe(x, sample_rate, f0_min, f0_max, n_frames, model_path, device)
    else:
        f0 = _model_f0(x, method, sample_rate, hop_length, model, model_path)
    return _fit_length(f0, n_frames)


__all__ = [
    "F0_MAX",
    "F0_METHODS",
    "F0_MIN",
    "MIN_HOPS",
    "F0Model",
    "PitchError",
    "check_model_path",
    "coarse_f0",
    "extract_f0",
    "shift_f0",
]
