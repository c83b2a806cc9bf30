"""Content features for voice conversion: HuBERT / ContentVec through transformers' ``HubertModel``.

Letters: B batch, N samples at 16 kHz, T frames at 50 /s, H the model's hidden size, C the feature
size (768 for RVC v2, 256 for v1).

What RVC feeds its converter (and what this module reproduces without fairseq):

* input: 16 kHz mono float in [-1, 1]; layer-normalised over the whole utterance only when the
  checkpoint says so (fairseq ``task.normalize``; transformers ``preprocessor_config.json``
  ``do_normalize``). ContentVec and HuBERT base are trained without it.
* **v2**: the output of transformer layer 12, 768-d, no projection.
* **v1**: the output of layer 9 through ``final_proj`` (Linear 768 -> 256). transformers'
  ``HubertModel`` has no ``final_proj``; ContentVec converted to transformers
  (``lengyue233/content-vec-best``) keeps it in its weight file, and :func:`load_content_encoder`
  reads it from there or from a separate file (``proj=``). v1 without a projection is an error.

transformers' ``hidden_states[i]`` is the output of layer ``i`` (``hidden_states[0]`` is the
input to layer 1), which equals fairseq's ``output_layer=i`` for the post-LayerNorm base models.
:class:`ContentEncoder` drops the layers after the one it reads, so the model's
``last_hidden_state`` *is* that layer and v1 runs 9 layers instead of 12.

Frames: the convolutional front end has a 400-sample receptive field and a 320-sample hop
(strides 5·2·2·2·2·2·2), so N samples give ``T = (N - 400) // 320 + 1`` frames (N >= 400), one
frame every 20 ms: 1 s -> 49 frames, not 50. Frame t covers samples ``[320 t, 320 t + 400)``.
RVC's pitch runs at 100 frames/s with ``N // 160`` frames; it repeats each content frame twice and
trims both to the shorter length.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

SAMPLE_RATE = 16000
HOP = 320  # samples per content frame: 50 frames/s
RECEPTIVE_FIELD = 400  # samples seen by the first frame
DEFAULT_SOURCE = "lengyue233/content-vec-best"
TINY = "tiny"  # a content_model naming the random tiny HuBERT of models/vc/tiny.py (tests, tiny preset)
TINY_SEED = 0
DEFAULT_LAYER = {"v1": 9, "v2": 12}
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
_WEIGHT_PATTERNS = [
    "config.json",
    "preprocessor_config.json",
    "model*.safetensors*",
    "pytorch_model*.bin*",
]
# Parameters a checkpoint may lack without changing inference (used only for masked pre-training).
_OPTIONAL_KEYS = ("masked_spec_embed",)


class ContentModelError(RuntimeError):
    """The content model cannot be found, read, or does not fit the requested feature version."""


class ContentInputError(ValueError):
    """Audio the content encoder cannot take (wrong rate, not mono, too short, not finite)."""


def how_to_get_content_model(source: str = DEFAULT_SOURCE) -> str:
    """The sentence every "model not found" error ends with."""
    return (
        "Get a transformers-format ContentVec/HuBERT base on a machine with internet: "
        f"`huggingface-cli download {source} --local-dir models/content-vec` (or `hf download ...`), "
        "copy the folder here and pass `--content-model models/content-vec`. RVC's pretrained models "
        f"and users' voices expect ContentVec ({DEFAULT_SOURCE}); facebook/hubert-base-ls960 is plain "
        "HuBERT and fits only models trained on it. fairseq .pt checkpoints (hubert_base.pt) are not read."
    )


def num_frames(n_samples: int) -> int:
    """Content frames HuBERT gives for ``n_samples`` at 16 kHz: ``(N - 400) // 320 + 1``, 0 if N < 400."""
    return 0 if n_samples < RECEPTIVE_FIELD else (n_samples - RECEPTIVE_FIELD) // HOP + 1


def resolve_layer(version: str, layer: int | None, n_layers: int) -> int:
    """The transformer layer to read (1-based).

    Rule: an explicit ``layer`` must lie in ``1..n_layers`` (else :class:`ContentModelError`); the
    default (12 for v2, 9 for v1) is clamped to ``n_layers``, so small test models with 2 layers
    read their last layer while a real 12-layer base reads exactly RVC's layer.
    """
    if version not in DEFAULT_LAYER:
        raise ContentModelError(f"unknown feature version {version!r}: expected 'v1' or 'v2'")
    if layer is None:
        return min(DEFAULT_LAYER[version], n_layers)
    if not 1 <= layer <= n_layers:
        raise ContentModelError(f"layer {layer} out of range: the model has {n_layers} transformer layers")
    return layer


class ContentEncoder(nn.Module):
    """HuBERT/ContentVec content features, RVC v1 or v2.

    Args:
        model: a ``transformers.HubertModel`` (base architecture). The encoder takes ownership:
            the layers after ``layer`` are removed from it.
        version: ``"v2"`` (layer 12, H-d) or ``"v1"`` (layer 9 then ``proj``).
        layer: the layer to read; default and clamping rule in :func:`resolve_layer`.
        proj: v1's ``final_proj`` (Linear H -> 256); required for v1, refused for v2.
        normalize: layer-normalise each waveform before the model (see module docstring).
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        version: str = "v2",
        layer: int | None = None,
        proj: nn.Linear | None = None,
        normalize: bool = False,
    ) -> None:
        super().__init__()
        config = model.config
        self.layer = resolve_layer(version, layer, config.num_hidden_layers)
        if version == "v1" and proj is None:
            raise ContentModelError(
                "RVC v1 features need the final_proj Linear(768 -> 256), which transformers' "
                "HubertModel lacks: load a checkpoint that keeps it (lengyue233/content-vec-best) "
                "or pass proj= (an nn.Linear or a file with weight/bias); or use version='v2'"
            )
        if version == "v2" and proj is not None:
            raise ContentModelError("v2 features take layer 12 as is: proj is only for v1")
        if proj is not None and proj.in_features != config.hidden_size:
            raise ContentModelError(
                f"projection takes {proj.in_features}-d input but the model's hidden size is {config.hidden_size}"
            )
        model.encoder.layers = model.encoder.layers[: self.layer]
        model.config.num_hidden_layers = self.layer
        self.model = model.eval()
        self.proj = proj
        self.version = version
        self.normalize = normalize
        self.dim = proj.out_features if proj is not None else config.hidden_size

    def _encode(self, wav: Tensor) -> Tensor:
        """(B, N) waveform, already normalised if needed -> (B, T, C) float32."""
        param = next(self.model.parameters())
        hidden = self.model(wav.to(param.device, param.dtype)).last_hidden_state  # (B, T, H)
        if self.proj is not None:
            hidden = self.proj(hidden.to(self.proj.weight.dtype))  # (B, T, 256)
        return hidden.float()

    def forward(self, wav: Tensor) -> Tensor:
        """Features of a batch of equal-length 16 kHz waveforms: (B, N) -> (B, T, C), T = ``num_frames(N)``."""
        if wav.shape[-1] < RECEPTIVE_FIELD:
            raise ContentInputError(f"audio too short: {wav.shape[-1]} samples, need at least 400 (25 ms)")
        if self.normalize:
            wav = nn.functional.layer_norm(wav, wav.shape[-1:])
        return self._encode(wav)

    @torch.no_grad()
    def extract(
        self,
        wav16k: np.ndarray,
        *,
        sample_rate: int = SAMPLE_RATE,
        chunk_seconds: float = 30.0,
        context_seconds: float = 2.0,
    ) -> np.ndarray:
        """Features of one utterance: (N,) float at 16 kHz -> (T, C) float32, T = ``num_frames(N)``.

        Long audio runs in chunks of ``chunk_seconds`` whose frames are aligned with the single
        pass (every chunk starts on a multiple of the 320 hop and ends where its last frame ends)
        and each sees ``context_seconds`` of real audio on both sides; no padding is inserted. The
        frame count equals the single pass; the values differ from it only through what lies beyond
        the context: attention, the 128-frame positional convolution and the first convolution's
        GroupNorm (statistics over the whole input) see the chunk, not the utterance. With context
        covering the whole input the result equals the single pass. Normalisation, when on, uses
        the whole utterance's statistics, as RVC does.
        """
        x = _check_audio(wav16k, sample_rate)
        if self.normalize:
            x = (x - x.mean()) / np.sqrt(x.var() + 1e-5)  # F.layer_norm over the utterance
        wav = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        total = num_frames(len(wav))
        chunk = max(1, round(chunk_seconds * SAMPLE_RATE / HOP))
        if total <= chunk:
            return self._encode(wav[None])[0].cpu().numpy()
        context = max(0, round(context_seconds * SAMPLE_RATE / HOP))
        out = np.empty((total, self.dim), dtype=np.float32)
        for a in range(0, total, chunk):
            b = min(total, a + chunk)  # frames kept from this chunk: [a, b)
            s, e = max(0, a - context), min(total, b + context)  # frames computed: [s, e)
            end = len(wav) if e == total else (e - 1) * HOP + RECEPTIVE_FIELD
            piece = wav[s * HOP : end]  # exactly e - s frames
            feats = self._encode(piece[None])[0]  # (e - s, C)
            out[a:b] = feats[a - s : b - s].cpu().numpy()
        return out


def _check_audio(wav: np.ndarray, sample_rate: int) -> np.ndarray:
    if sample_rate != SAMPLE_RATE:
        raise ContentInputError(f"content features need 16 kHz audio, got {sample_rate} Hz: resample first")
    x = np.asarray(wav)
    if x.ndim == 2 and 1 in x.shape:
        x = x.reshape(-1)
    if x.ndim != 1:
        raise ContentInputError(f"content features need mono audio (N,), got shape {x.shape}: mix down first")
    if not np.issubdtype(x.dtype, np.floating):
        raise ContentInputError(
            f"expected float audio in [-1, 1], got {x.dtype}: convert (int16 / 32768) first"
        )
    if len(x) < RECEPTIVE_FIELD:
        raise ContentInputError(f"audio too short: {len(x)} samples, need at least 400 (25 ms at 16 kHz)")
    if not np.isfinite(x).all():
        raise ContentInputError("audio holds NaN or infinite samples")
    return x.astype(np.float32, copy=False)


def load_content_encoder(
    source: str | Path | None = None,
    version: str = "v2",
    device: str | torch.device = "cpu",
    *,
    layer: int | None = None,
    proj: nn.Linear | str | Path | None = None,
    normalize: bool | None = None,
    local_files_only: bool | None = None,
) -> ContentEncoder:
    """Load a transformers ``HubertModel`` (ContentVec or HuBERT base) as a :class:`ContentEncoder`.

    Args:
        source: a folder holding ``config.json`` and ``model.safetensors`` / ``pytorch_model.bin``,
            or a hub id (default ``lengyue233/content-vec-best``), fetched into the hub cache.
        version: ``"v2"`` or ``"v1"``; v1 takes ``final_proj`` from the checkpoint unless ``proj``
            is given (an ``nn.Linear`` or a ``.safetensors``/``.pt`` file with ``weight`` and ``bias``,
            optionally prefixed ``final_proj.``).
        device: where the model runs.
        layer: see :func:`resolve_layer`.
        normalize: input layer norm; ``None`` reads ``do_normalize`` from the folder's
            ``preprocessor_config.json`` and is off without one.
        local_files_only: never touch the network for a hub id (``None``: ``HF_HUB_OFFLINE`` decides).

    Raises:
        ContentModelError: not found (the message says how to get the model), unreadable, not a
            HuBERT, missing weights, or v1 without a projection.
    """
    folder = _resolve_source(str(source) if source is not None else DEFAULT_SOURCE, source, local_files_only)
    model = _load_hubert(folder)
    if version == "v1" and proj is None:
        proj = _checkpoint_projection(folder)
        if proj is None:
            raise ContentModelError(
                f"{folder} has no final_proj weights, which RVC v1 (256-d) features need: use a "
                f"ContentVec checkpoint that keeps them ({DEFAULT_SOURCE}), pass proj=FILE, or use v2"
            )
    elif isinstance(proj, (str, Path)):
        proj = load_projection(proj)
    if normalize is None:
        pre = folder / "preprocessor_config.json"
        normalize = bool(json.loads(pre.read_text()).get("do_normalize", False)) if pre.is_file() else False
    encoder = ContentEncoder(model, version=version, layer=layer, proj=proj, normalize=normalize)
    return encoder.to(device).eval()


def _resolve_source(text: str, source: str | Path | None, local_files_only: bool | None) -> Path:
    path = Path(text).expanduser()
    if isinstance(source, Path) or path.exists() or not _HUB_ID.fullmatch(text):
        if not path.exists():
            raise ContentModelError(f"no content model at {path}. " + how_to_get_content_model())
        if path.is_file():
            kind = "a fairseq checkpoint" if path.suffix in (".pt", ".pth") else "a file"
            raise ContentModelError(
                f"{path} is {kind}; expected a transformers folder (config.json + weights). "
                + how_to_get_content_model()
            )
        if not (path / "config.json").is_file():
            raise ContentModelError(
                f"{path} has no config.json: not a transformers model folder. " + how_to_get_content_model()
            )
        return path
    from huggingface_hub import snapshot_download

    try:
        snapshot = snapshot_download(
            text, allow_patterns=_WEIGHT_PATTERNS, local_files_only=bool(local_files_only)
        )
    except Exception as err:  # offline, unknown repo, gated, disk full
        raise ContentModelError(
            f"cannot get content model {text!r} from the Hugging Face hub or its cache "
            f"({type(err).__name__}), and no local folder has that name. " + how_to_get_content_model(text)
        ) from err
    return Path(snapshot)


def _load_hubert(folder: Path) -> nn.Module:
    from transformers import HubertModel
    from transformers.utils import logging as hf_logging

    config = json.loads((folder / "config.json").read_text())
    if config.get("model_type") != "hubert":
        raise ContentModelError(
            f"{folder} holds a {config.get('model_type')!r} model, not HuBERT/ContentVec (model_type 'hubert')"
        )
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # ContentVec's final_proj is an "unused weight" to HubertModel
    try:
        model, info = HubertModel.from_pretrained(folder, local_files_only=True, output_loading_info=True)
    except Exception as err:
        raise ContentModelError(
            f"cannot load HuBERT weights from {folder}: {type(err).__name__}: {err}"
        ) from err
    finally:
        hf_logging.set_verbosity(verbosity)
    missing = [k for k in info.get("missing_keys", []) if not k.endswith(_OPTIONAL_KEYS)]
    if missing:
        raise ContentModelError(
            f"{folder} lacks {len(missing)} HuBERT weights (e.g. {missing[0]}): incomplete download?"
        )
    return model.float().eval()


def _checkpoint_projection(folder: Path) -> nn.Linear | None:
    """``final_proj`` from the checkpoint's weight files (safetensors or .bin, sharded or not)."""
    keys = ("final_proj.weight", "final_proj.bias")
    files = sorted(folder.glob("model*.safetensors")) or sorted(folder.glob("pytorch_model*.bin"))
    for file in files:
        tensors = _read_tensors(file)
        if all(k in tensors for k in keys):
            return _linear(tensors[keys[0]], tensors[keys[1]], file)
    return None


def load_projection(path: str | Path) -> nn.Linear:
    """v1's ``final_proj`` from a file with ``weight`` (256, H) and ``bias`` (256,), optionally ``final_proj.``-prefixed."""
    path = Path(path)
    if not path.is_file():
        raise ContentModelError(f"no projection file at {path}")
    tensors = _read_tensors(path)
    for prefix in ("", "final_proj."):
        if f"{prefix}weight" in tensors and f"{prefix}bias" in tensors:
            return _linear(tensors[f"{prefix}weight"], tensors[f"{prefix}bias"], path)
    raise ContentModelError(f"{path} holds no weight/bias or final_proj.weight/bias tensors")


def _read_tensors(path: Path) -> dict[str, Tensor]:
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ContentModelError(f"cannot read {path}: {type(err).__name__}: {err}"[:400]) from err
    return state if isinstance(state, dict) else {}


def _linear(weight: Tensor, bias: Tensor, source: Path) -> nn.Linear:
    if weight.ndim != 2 or bias.shape != weight.shape[:1]:
        raise ContentModelError(
            f"bad projection in {source}: weight {tuple(weight.shape)}, bias {tuple(bias.shape)}"
        )
    proj = nn.Linear(weight.shape[1], weight.shape[0])
    with torch.no_grad():
        proj.weight.copy_(weight.float())
        proj.bias.copy_(bias.float())
    return proj


def content_model_spec(content_model: str | Path | None) -> str:
    """What ``content_model`` is recorded as: ``"tiny"``, an absolute folder, or a hub id."""
    if content_model is None:
        return DEFAULT_SOURCE
    text = str(content_model)
    if text == TINY:
        return TINY
    path = Path(text).expanduser()
    return str(path.resolve()) if isinstance(content_model, Path) or path.exists() else text


def content_encoder(spec: str, version: str, device: str = "cpu") -> ContentEncoder:
    """The content encoder a recorded ``content_model`` names (see the module docstring).

    Raises:
        ContentModelError: the model cannot be found or loaded (the message says how to get it).
    """
    if spec == TINY:
        from sesli.models.vc.tiny import tiny_content_encoder

        return tiny_content_encoder(seed=TINY_SEED, version=version).to(device).eval()
    return load_content_encoder(spec, version, device)


__all__ = [
    "DEFAULT_LAYER",
    "DEFAULT_SOURCE",
    "TINY",
    "TINY_SEED",
    "content_encoder",
    "content_model_spec",
    "HOP",
    "SAMPLE_RATE",
    "ContentEncoder",
    "ContentInputError",
    "ContentModelError",
    "how_to_get_content_model",
    "load_content_encoder",
    "load_projection",
    "num_frames",
    "resolve_layer",
]
