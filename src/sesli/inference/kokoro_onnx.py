"""Kokoro through onnxruntime: a sesli export (``sesli kokoro export``) with the same surface as torch.

``load(export)`` gives an :class:`OnnxSynthesizer` for a sesli export (a folder with
``kokoro-tr-<dtype>.onnx``, ``voices.npz`` and ``config.json``, or the ``.onnx`` itself).
``sesli say/serve --backend onnx`` export any other Kokoro source once into a cache first
(:func:`sesli.export.kokoro.cached_export`). G2P, chunking, voices and mixing are the torch synthesizer's (this is a subclass that
replaces only the model call), so the two backends say the same phonemes.

The graph is deterministic: the export leaves the source's random noise out (see
:mod:`sesli.export.kokoro`), so ``noise`` does not apply. It takes one utterance per call; the
``duration`` output gives each symbol's time, as the torch model's durations do.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
from torch import Tensor

from sesli.inference.base import Rendered, RenderItem, symbol_times
from sesli.inference.kokoro import Synthesizer
from sesli.models.kokoro.config import SAMPLE_RATE
from sesli.models.kokoro.loading import LoadedKokoro, ModelLoadError

FRAME_SAMPLES = 600  # audio samples per duration frame (Kokoro's 24 kHz, hop 300, x2 upsampling)


def find_graph(model: str | Path, dtype: str | None = None) -> Path | None:
    """The sesli export graph ``model`` names (a folder or an ``.onnx`` with ``config.json`` beside it)."""
    path = Path(str(model)).expanduser()
    if path.is_file() and path.suffix == ".onnx" and (path.parent / "config.json").is_file():
        return path
    if path.is_dir() and (path / "config.json").is_file():
        graphs = sorted(path.glob(f"kokoro-tr-{dtype or '*'}.onnx"))
        # fp32 first: int8 is only 1.08x faster and lost 4.6 CER points (bench/kokoro_onnx_speed.py)
        order = {"fp32": 0, "int8": 1, "fp16": 2}
        graphs.sort(key=lambda g: order.get(g.stem.rsplit("-", 1)[-1], 9))
        return graphs[0] if graphs else None
    return None


class OnnxSynthesizer(Synthesizer):
    """A sesli Kokoro export run by onnxruntime (CPU).

    Args:
        graph: the ``.onnx`` of a sesli export (``config.json`` and ``voices.npz`` beside it).
        threads: onnxruntime intra-op threads (None: its default, all cores).
        notes: how the graph was found or made, for the user.
    """

    def __init__(
        self, graph: str | Path, *, threads: int | None = None, notes: list[str] | None = None
    ) -> None:
        import onnxruntime as ort

        graph = Path(graph)
        folder = graph.parent
        try:
            config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
            packs = np.load(folder / "voices.npz")
        except (OSError, ValueError) as err:
            raise ModelLoadError(
                f"{folder} is not a sesli Kokoro export ({err}); make one with `sesli kokoro export`"
            ) from err
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = int(threads)
        self.session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        outputs = [o.name for o in self.session.get_outputs()]
        if "duration" not in outputs:
            raise ModelLoadError(f"{graph} has no 'duration' output; export it with `sesli kokoro export`")
        self._inputs = [i.name for i in self.session.get_inputs()]
        voices = {name: torch.from_numpy(np.asarray(packs[name], np.float32)) for name in packs.files}
        self.loaded = LoadedKokoro(model=None, source=str(graph), voices=voices,  # type: ignore[arg-type]
                                   default_voice=next(iter(voices), None),
                                   notes=[*(notes or []), f"onnxruntime on {graph}"])  # fmt: skip
        self.config = SimpleNamespace(vocab=config["vocab"], max_phonemes=int(config.get("max_phonemes", 510)),
                                      ref_dim=int(config["style_dim"][-1]))  # fmt: skip
        self.vocab = self.config.vocab
        self.noise = False
        self.batch_size = 1
        self.model = None
        self._voice_cache: dict[str, Tensor] = {}

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def _render(self, items: list[RenderItem], packs: list[Tensor], *, with_times: bool) -> list[Rendered]:
        out = []
        frame_s = FRAME_SAMPLES / SAMPLE_RATE
        for item, pack in zip(items, packs, strict=True):
            ids = [0, *(self.vocab[ch] for ch in item.phonemes), 0]
            row = min(len(ids) - 2, pack.shape[0]) - 1  # as upstream and the torch path index packs
            feeds = {
                self._inputs[0]: np.asarray([ids], np.int64),
                self._inputs[1]: pack[max(row, 0)].reshape(1, -1).numpy().astype(np.float32),
                self._inputs[2]: np.asarray([float(item.speed)], np.float32),
            }
            audio, duration = self.session.run(["waveform", "duration"], feeds)
            times = symbol_times(duration.astype(np.float64), np.arange(1, len(ids) - 1), frame_s)
            out.append(Rendered(np.asarray(audio, np.float32).reshape(-1), times if with_times else None))
        return out


def load_onnx(model: Any, *, threads: int | None = None, **_: Any) -> OnnxSynthesizer:
    """An :class:`OnnxSynthesizer` for a sesli export (a folder or its ``.onnx``).

    Raises:
        ModelLoadError: ``model`` is not a sesli Kokoro export.
    """
    graph = find_graph(model) if model is not None else None
    if graph is None:
        raise ModelLoadError(
            f"{model!r} is not a sesli Kokoro ONNX export (a folder with kokoro-tr-<dtype>.onnx and "
            "config.json): make one with `sesli kokoro export`, or let `sesli say/serve --backend onnx` do it"
        )
    return OnnxSynthesizer(graph, threads=threads)


__all__ = ["OnnxSynthesizer", "find_graph", "load_onnx"]
