"""The files beside a Kokoro ONNX graph: voice packs, ``tokens.txt``, ``config.json``, metadata.

What each runtime reads (checked against their sources; see :mod:`sesli.export.kokoro`):

* **kokoro-onnx** (``Kokoro(model_path, voices_path, vocab_config=...)``): ``voices.npz``, an npz of
  ``name -> float32 (510, 1, R)`` (``np.load``; it indexes ``pack[n_phonemes - 1]``), and a vocab,
  either ``config.json``'s ``"vocab"`` (``vocab_config=``) or the graph's ``kokoro_config``
  metadata (a JSON string with ``"vocab"``), which newer kokoro-onnx reads by itself.
* **sherpa-onnx** (``OfflineTtsKokoroModelConfig(model, voices, tokens, data_dir, lang)``):
  ``voices.bin``, raw float32 ``510 x R`` per speaker concatenated in speaker-id order (its size
  must be ``510 * R * 4 * n_speakers``; it indexes row ``n_phonemes``), and ``tokens.txt``, one
  ``symbol id`` per line. Its reader (``symbol-table.cc`` ``ReadTokens``) trims the line and reads
  whitespace-separated fields, and a line left with one field is the space symbol, so the space is
  written ``"  16"`` as sherpa-onnx's own ``generate_tokens.py`` writes it; any other whitespace in
  a symbol cannot be written. Its multi-lingual front-end (``kokoro-multi-lang-lexicon.cc``) also
  exits on a token that is not exactly one code point.
* **graph metadata** read by sherpa-onnx (``offline-tts-kokoro-model.cc``): ``sample_rate``,
  ``n_speakers``, ``has_espeak`` (required), ``version`` (default 1), ``voice`` (default
  ``en-us``), ``style_dim`` (``"510,1,R"``, required); ``speaker_names`` in debug mode. The rest
  follows its ``scripts/kokoro/v1.0/add_meta_data.py`` for the multi-lingual v1.0 model
  (``model_type``, ``language``, ``speaker2id``, ``id2speaker``). ``version`` 2 selects the
  multi-lingual front-end. Before sherpa-onnx 2.0 that front-end phonemized with espeak-ng and
  wanted ``lang`` (``tr``) or a lexicon; 2.0 dropped espeak-ng (``data_dir`` and ``lang`` are
  ignored, ``voice``/``has_espeak`` still read) and takes a lexicon or the phonemes themselves
  (``GenerationConfig.phoneme_codepoints``), which is how sesli's own phonemes reach it.

Also written: ``<voice>.bin`` per voice (one raw pack: sherpa-onnx single-speaker layout, and what
``kokoro.js`` ships), and ``config.json`` for people and for sesli's own readers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from sesli.fileio import atomic_path, write_json
from sesli.models.kokoro.config import SAMPLE_RATE

PACK_ROWS = 510  # styles per voice pack: one per phoneme count
ESPEAK_VOICE = "tr"  # espeak-ng's Turkish, what sherpa-onnx phonemizes with (its ``voice``/``lang``)
SHERPA_VERSION = 2  # multi-lingual Kokoro (v1.0) in sherpa-onnx's terms
_VOICE_NAME = re.compile(r"[A-Za-z0-9_]+")
_RESERVED = {"voices"}  # voices.bin / voices.npz are the all-voice files


class KokoroExportError(ValueError):
    """A model, voice or vocabulary that cannot make the Kokoro ONNX files (the message says why)."""


def _as_pack(name: str, value: Tensor | np.ndarray | str | Path) -> np.ndarray:
    if isinstance(value, (str, Path)):
        from sesli.models.kokoro.voices import VoiceFileError, read_voices

        try:
            packs = read_voices(value)
        except VoiceFileError as err:
            raise KokoroExportError(str(err)) from err
        if len(packs) != 1:
            raise KokoroExportError(f"voice {name!r}: {value} holds {len(packs)} packs, expected one")
        value = next(iter(packs.values()))
    if isinstance(value, Tensor):
        value = value.detach().to("cpu", torch.float32).numpy()
    return np.ascontiguousarray(np.asarray(value, dtype=np.float32))


def voice_packs(
    voices: Mapping[str, Tensor | np.ndarray | str | Path], ref_dim: int
) -> dict[str, np.ndarray]:
    """Check and load voice packs: ``name -> float32 (510, 1, ref_dim)``, order kept (= speaker ids).

    Raises:
        KokoroExportError: no voices, a bad name (file names and sherpa-onnx's comma-separated
            speaker list need ``[A-Za-z0-9_]+``), a pack of the wrong shape or with NaN/inf.
    """
    if not voices:
        raise KokoroExportError("no voice packs to export: pass voices={name: pack} (510, 1, R)")
    out = {}
    for name, value in voices.items():
        if not _VOICE_NAME.fullmatch(name) or name in _RESERVED:
            raise KokoroExportError(
                f"voice name {name!r} must be letters, digits or '_' (it names a file and a sherpa-onnx "
                f"speaker) and not {sorted(_RESERVED)}"
            )
        pack = _as_pack(name, value)
        if pack.shape != (PACK_ROWS, 1, ref_dim):
            raise KokoroExportError(
                f"voice {name!r} has shape {pack.shape}; expected ({PACK_ROWS}, 1, {ref_dim})"
            )
        if not np.isfinite(pack).all():
            raise KokoroExportError(f"voice {name!r} holds NaN or infinite values")
        out[name] = pack
    return out


def token_lines(vocab: Mapping[str, int], n_token: int) -> list[str]:
    """``tokens.txt`` lines (``"symbol id"``, vocab order) that sherpa-onnx reads back unchanged.

    Raises:
        KokoroExportError: a symbol that is not one code point, whitespace other than the space
            symbol itself, or an id outside ``0..n_token-1``.
    """
    lines = []
    for sym, i in vocab.items():
        if not isinstance(i, int) or not 0 <= i < n_token:
            raise KokoroExportError(f"vocab id {i!r} of {sym!r} is outside the model's 0..{n_token - 1}")
        if len(sym) != 1:
            raise KokoroExportError(
                f"vocab symbol {sym!r} is not one character: sherpa-onnx's Kokoro front-end maps one "
                "code point per token"
            )
        if sym.isspace() and sym != " ":
            raise KokoroExportError(
                f"vocab symbol {sym!r} (id {i}) is whitespace: tokens.txt is read by fields, so only "
                "the space itself (a line with just its id) can be written"
            )
        lines.append(f"{sym} {i}")
    return lines


def sherpa_metadata(
    *, names: list[str], ref_dim: int, vocab: Mapping[str, int], extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The graph's ``metadata_props`` (all strings): sherpa-onnx's keys plus kokoro-onnx's vocab."""
    from sesli import __version__

    return {
        "model_type": "kokoro",
        "language": "Turkish",
        "has_espeak": "1",
        "sample_rate": str(SAMPLE_RATE),
        "version": str(SHERPA_VERSION),
        "voice": ESPEAK_VOICE,
        "style_dim": f"{PACK_ROWS},1,{ref_dim}",
        "n_speakers": str(len(names)),
        "speaker_names": ",".join(names),
        "speaker2id": ",".join(f"{n}->{i}" for i, n in enumerate(names)),
        "id2speaker": ",".join(f"{i}->{n}" for i, n in enumerate(names)),
        "kokoro_config": json.dumps({"vocab": dict(vocab)}, ensure_ascii=False),
        "sesli_version": __version__,
        "comment": "Kokoro-82M architecture exported by sesli; sherpa-onnx: pass lang='tr' (espeak-ng)",
        **dict(extra or {}),
    }


def write_runtime_files(
    out_dir: Path,
    packs: dict[str, np.ndarray],
    *,
    vocab: Mapping[str, int],
    n_token: int,
    config: dict[str, Any],
) -> dict[str, Path]:
    """Write ``voices.npz``, ``voices.bin``, ``<voice>.bin``, ``tokens.txt``, ``config.json``.

    Returns:
        ``{"voices_npz", "voices_bin", "tokens", "config", "voice:<name>"...} -> path``.
    """
    lines = token_lines(vocab, n_token)
    paths = {
        "voices_npz": out_dir / "voices.npz",
        "voices_bin": out_dir / "voices.bin",
        "tokens": out_dir / "tokens.txt",
        "config": out_dir / "config.json",
    }
    with atomic_path(paths["voices_npz"]) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **packs)
    with atomic_path(paths["voices_bin"]) as tmp:
        # (510, 1, R) float32 little-endian, speaker after speaker: sherpa-onnx's voices.bin
        np.concatenate([p.astype("<f4").reshape(-1) for p in packs.values()]).tofile(tmp)
    for name, pack in packs.items():
        paths[f"voice:{name}"] = out_dir / f"{name}.bin"
        with atomic_path(paths[f"voice:{name}"]) as tmp:
            pack.astype("<f4").tofile(tmp)
    with atomic_path(paths["tokens"]) as tmp:
        tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    write_json(paths["config"], config)
    return paths


__all__ = [
    "ESPEAK_VOICE",
    "PACK_ROWS",
    "SHERPA_VERSION",
    "KokoroExportError",
    "sherpa_metadata",
    "token_lines",
    "voice_packs",
    "write_runtime_files",
]
