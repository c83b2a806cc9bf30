"""ONNX export of the sound models' decoders, for a game runtime (onnxruntime, e.g. Unreal's NNE).

``export_sound(run_or_artifact, out_dir, vocoder=...)`` writes a folder a game-side script can use
with nothing but onnxruntime and a JSON reader:

* ``decoder.onnx``: latents to sound. **Inputs** (B and T' dynamic): ``z`` float32 ``(B, D, T')``
  (VAE, VAE-GAN) or ``codes`` int64 ``(B, Q, T')`` in ``0..codebook_size - 1`` (VQ-VAE);
  ``label`` int64 ``(B,)`` (models with labels only: the id of a name in ``sound.json``'s
  ``labels``, -1 = no label) and ``pitch`` int64 ``(B,)`` (``use_pitch`` models only: MIDI
  0..127, -1 = unknown). **Output**: ``audio`` float32 ``(B, 1, T' spf)`` for waveform models
  (spf = ``samples_per_frame``), ``log_mag`` float32 ``(B, K, T' spf / hop + 1)`` for spectrogram
  models (sesli's linear log-magnitude, ``log(max(|STFT|, floor))``, centred periodic-Hann STFT).
* ``vocoder.onnx`` (spectrogram models, when a vocoder is given): ``log_mag (B, K, F)`` ->
  ``audio (B, 1, (F - 1) hop)``, the samples whose centred STFT has F frames; and
  ``decoder_vocoded.onnx``: the decoder's inputs -> ``audio (B, 1, T' spf)`` in one graph.
* ``sound.json``: the contract (sample rate, frames, latent kind and sizes, labels and their ids,
  every graph's inputs and outputs with their shapes, the STFT, the sesli version).

Ids out of range: a ``label`` or ``pitch`` outside its range decodes as -1 (no label, unknown
pitch), where torch raises; a ``code`` >= ``codebook_size`` makes onnxruntime fail on its Gather
(ONNX Gather reads a negative code from the end of the codebook: keep codes in range).

Why wrappers: :class:`SoundDecoderGraph` names the graph's inputs and runs the model's own decode
on a copy whose conditioning maps -1 to the tables' "none" rows with ``where`` (``Conditioning``
validates ids with ``bool(tensor)``, which a trace would freeze; the codebook stages are a loop
over the model's fixed Q). :class:`SoundVocoderGraph` folds the HiFi-GAN's weight norm and cuts
its output to ``(F - 1) hop`` from the input's shape, so batch and length stay dynamic.

Letters: B batch, D latent_dim, Q quantiser stages, T' latent frames, K bins, F spectrogram frames.
"""

from __future__ import annotations

import copy
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from sesli.fileio import atomic_path, write_json
from sesli.models.sound.blocks import Conditioning
from sesli.models.sound.config import N_PITCHES, SoundConfig
from sesli.models.sound.model import SoundModel
from sesli.models.sound.vocoder import SoundVocoder

OPSET = 17
FORMAT = "sesli-sound-onnx"
FORMAT_VERSION = 1
CONTRACT_FILE = "sound.json"
GRAPH_FILES = {
    "decoder": "decoder.onnx",
    "vocoder": "vocoder.onnx",
    "decoder_vocoded": "decoder_vocoded.onnx",
}


class SoundExportError(ValueError):
    """A model or vocoder that cannot be exported (the message says why and what to do)."""


class _ExportConditioning(Conditioning):
    """:class:`Conditioning` without its ``bool(tensor)`` id checks (a trace would freeze them):
    -1, and any id out of range, picks the table's last ("none") row by ``where``."""

    def forward(
        self, batch: int, labels: Tensor | None, pitch: Tensor | None, device: torch.device
    ) -> Tensor:
        out = None
        for ids, table in ((labels, self.label), (pitch, self.pitch)):
            if table is None:
                continue
            none = table.num_embeddings - 1  # row n: "no label" / "unknown pitch"
            rows = torch.where((ids < 0) | (ids >= none), torch.full_like(ids, none), ids)
            out = table(rows) if out is None else out + table(rows)
        return out  # (B, E)


class SoundDecoderGraph(nn.Module):
    """``(z | codes, [label], [pitch]) -> audio (B, 1, N) | log_mag (B, K, F)``: SoundModel.decode.

    The graph runs the model's own :meth:`~SoundModel.decode` / :meth:`~SoundModel.decode_codes`
    (on a private copy whose conditioning is :class:`_ExportConditioning`), so it cannot drift
    from torch; the wrapper only fixes the graph's named inputs and its one output.

    Args:
        model: the sound model (copied; not modified).

    Attributes:
        input_names: the graph's inputs, in ``forward``'s order.
        output_name: ``"audio"`` (waveform models) or ``"log_mag"`` (spectrogram models).
    """

    def __init__(self, model: SoundModel) -> None:
        super().__init__()
        self.model = copy.deepcopy(model).eval()
        if self.model.cond is not None:
            self.model.cond.__class__ = _ExportConditioning
        c = self.model.config
        cond = self.model.cond
        self.input_names = ["codes" if c.family == "vqvae" else "z"]
        self.input_names += ["label"] * (cond is not None and cond.label is not None)
        self.input_names += ["pitch"] * (cond is not None and cond.pitch is not None)
        self.output_name = "audio" if c.representation == "waveform" else "log_mag"

    def forward(self, *inputs: Tensor) -> Tensor:
        named = dict(zip(self.input_names, inputs, strict=True))
        label, pitch = named.get("label"), named.get("pitch")  # (B,) int64 each
        if "codes" in named:
            out = self.model.decode_codes(named["codes"], label, pitch)  # codes (B, Q, T')
        else:
            out = self.model.decode(named["z"], label, pitch)  # z (B, D, T')
        return out.audio if out.audio is not None else out.log_mag  # (B, 1, T' spf) | (B, K, F)


def _folded_vocoder(vocoder: SoundVocoder) -> SoundVocoder:
    """An eval copy with weight norm folded into plain weights (fresh: weight-normed modules do
    not deep-copy)."""
    fresh = SoundVocoder(copy.deepcopy(vocoder.config))
    fresh.load_state_dict(vocoder.state_dict())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        for module in fresh.modules():
            if hasattr(module, "weight_g"):
                nn.utils.remove_weight_norm(module)
    return fresh.eval()


class SoundVocoderGraph(nn.Module):
    """``log_mag (B, K, F) -> audio (B, 1, (F - 1) hop)``: SoundVocoder with ``length = (F - 1) hop``."""

    input_names = ["log_mag"]
    output_name = "audio"

    def __init__(self, vocoder: SoundVocoder) -> None:
        super().__init__()
        self.vocoder = _folded_vocoder(vocoder)
        self.hop = int(vocoder.config.hop_length)

    def forward(self, log_mag: Tensor) -> Tensor:
        audio = self.vocoder(log_mag)  # (B, 1, F hop)
        return audio[..., : (log_mag.shape[-1] - 1) * self.hop]  # traced from the shape: dynamic


class SoundVocodedGraph(nn.Module):
    """The decoder's inputs -> ``audio (B, 1, T' spf)``: a spectrogram decoder and its vocoder fused."""

    output_name = "audio"

    def __init__(self, decoder: SoundDecoderGraph, vocoder: SoundVocoderGraph) -> None:
        super().__init__()
        self.decoder, self.vocoder = decoder, vocoder
        self.input_names = list(decoder.input_names)

    def forward(self, *inputs: Tensor) -> Tensor:
        return self.vocoder(self.decoder(*inputs))


@dataclass
class SoundExport:
    """What :func:`export_sound` wrote into ``out_dir``."""

    out_dir: Path
    contract_path: Path  # sound.json
    contract: dict[str, Any]
    decoder: Path
    vocoder: Path | None = None
    decoder_vocoded: Path | None = None
    opset: int = OPSET
    seconds: float = 0.0
    graphs: dict[str, Path] = field(default_factory=dict)  # name -> file, all of the above


def example_inputs(
    config: SoundConfig, *, frames: int = 8, batch: int = 2, seed: int = 0
) -> dict[str, Tensor]:
    """Random inputs of the decoder's contract (tracing, parity tests): label and pitch include -1."""
    gen = torch.Generator().manual_seed(seed)
    if config.family == "vqvae":
        out = {
            "codes": torch.randint(
                0, config.codebook_size, (batch, config.n_quantizers, frames), generator=gen
            )
        }
    else:
        out = {"z": torch.randn(batch, config.latent_dim, frames, generator=gen)}
    if config.labels:
        out["label"] = torch.randint(-1, config.n_labels, (batch,), generator=gen)
    if config.use_pitch:
        out["pitch"] = torch.randint(-1, N_PITCHES, (batch,), generator=gen)
    return out


def _tensor_spec(name: str, dtype: str, shape: list[Any], **notes: Any) -> dict[str, Any]:
    return {"name": name, "dtype": dtype, "shape": shape, **notes}


def _decoder_io(c: SoundConfig, audio_out: bool) -> tuple[list[dict], list[dict]]:
    """The decoder's (or the fused graph's, ``audio_out``) inputs and outputs for ``sound.json``."""
    if c.family == "vqvae":
        inputs = [_tensor_spec("codes", "int64", ["batch", c.n_quantizers, "frames"],
                               range=[0, c.codebook_size - 1])]  # fmt: skip
    else:
        inputs = [_tensor_spec("z", "float32", ["batch", c.latent_dim, "frames"])]
    if c.labels:
        inputs.append(_tensor_spec("label", "int64", ["batch"], range=[-1, c.n_labels - 1], none=-1))
    if c.use_pitch:
        inputs.append(_tensor_spec("pitch", "int64", ["batch"], range=[-1, N_PITCHES - 1], unknown=-1))
    spf = c.samples_per_frame
    if c.representation == "waveform" or audio_out:
        out = _tensor_spec("audio", "float32", ["batch", 1, f"frames * {spf}"])
    else:
        out = _tensor_spec("log_mag", "float32", ["batch", c.n_bins, f"frames * {spf // c.hop_length} + 1"])
    return inputs, [out]


def sound_contract(model: SoundModel, graphs: dict[str, str], *, opset: int = OPSET) -> dict[str, Any]:
    """The ``sound.json`` of an export: everything a game-side script needs to drive the graphs.

    Args:
        model: the exported model.
        graphs: graph name (``decoder``, ``vocoder``, ``decoder_vocoded``) -> file name.
        opset: the graphs' ONNX opset.
    """
    from sesli import __version__

    c = model.config
    spf = c.samples_per_frame
    if c.family == "vqvae":
        latent = {"kind": "codes", "n_quantizers": c.n_quantizers, "codebook_size": c.codebook_size,
                  "how": "int64 ids, one per quantiser stage and frame (a LatentPrior samples them)"}  # fmt: skip
    else:
        latent = {"kind": "gaussian", "latent_dim": c.latent_dim,
                  "how": "float32; the VAE's prior is N(0, 1) per value (a LatentPrior gives better sequences)"}  # fmt: skip
    entries: dict[str, Any] = {}
    for name, file in graphs.items():
        if name == "vocoder":
            frames = ["batch", c.n_bins, "spec_frames"]
            io = ([_tensor_spec("log_mag", "float32", frames)],
                  [_tensor_spec("audio", "float32", ["batch", 1, f"(spec_frames - 1) * {c.hop_length}"])])  # fmt: skip
        else:
            io = _decoder_io(c, audio_out=name == "decoder_vocoded")
        entries[name] = {"file": file, "inputs": io[0], "outputs": io[1]}
    label_help = "this model reads no label"
    if c.labels:
        label_help = "label input = label_ids[name] (its index in labels); -1 (or an unknown id) = no label"
    pitch_help = (
        "pitch input = MIDI note 0..127; -1 (or any other value) = unknown"
        if c.use_pitch
        else "no pitch input"
    )
    audio_output = "decoder" if c.representation == "waveform" else None
    if "decoder_vocoded" in graphs:
        audio_output = "decoder_vocoded"
    contract: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "sesli_version": __version__,
        "model_type": "sound",
        "family": c.family,
        "representation": c.representation,
        "sample_rate": c.sample_rate,
        "samples_per_frame": spf,
        "frame_rate": c.sample_rate / spf,
        "frames_for_seconds": f"frames = ceil(seconds * {c.sample_rate} / {spf})",
        "latent_dim": c.latent_dim,
        "latent": latent,
        "labels": [{"id": i, "name": name} for i, name in enumerate(c.labels)],
        "label_ids": {name: i for i, name in enumerate(c.labels)},
        "label_help": label_help,
        "use_pitch": c.use_pitch,
        "pitch_help": pitch_help,
        "audio_output": audio_output,  # the graph that ends in audio (None: vocode log_mag yourself)
        "graphs": entries,
        "opset": opset,
        "trained_steps": c.extra.get("step"),
    }
    if c.representation == "spectrogram":
        contract["spectrogram"] = {
            "n_fft": c.n_fft,
            "hop_length": c.hop_length,
            "win_length": c.n_fft,
            "log_floor": c.log_floor,
            "definition": "log(max(|STFT|, log_floor)); centred STFT (reflect padding), periodic Hann window",
            "to_audio": "vocoder.onnx, or Griffin-Lim (sesli.audio.features.griffin_lim) outside the game",
        }
    if c.family == "vqvae":
        contract["n_quantizers"], contract["codebook_size"] = c.n_quantizers, c.codebook_size
    return contract


def _load_model(run_or_artifact: Any) -> SoundModel:
    if isinstance(run_or_artifact, SoundModel):
        return run_or_artifact
    from sesli.artifacts import ArtifactError
    from sesli.models.sound.artifact import load_sound_model

    try:
        return load_sound_model(run_or_artifact)
    except ArtifactError as err:
        raise SoundExportError(f"cannot export {run_or_artifact}: {err}") from err


def _load_vocoder(vocoder: Any, config: SoundConfig) -> SoundVocoder:
    """A SoundVocoder (given, or read from its artifact or run folder) that fits ``config``'s STFT."""
    from sesli.artifacts import ArtifactError, is_artifact
    from sesli.models.sound.vocoder import VocoderMismatchError, load_vocoder

    if config.representation != "spectrogram":
        raise SoundExportError(
            f"a {config.representation} sound model outputs audio itself: export it without a vocoder"
        )
    try:
        if not isinstance(vocoder, SoundVocoder):
            path = Path(vocoder).expanduser()
            vocoder = load_vocoder(path / "model" if is_artifact(path / "model") else path)
        vocoder.check_fits(config)
    except (ArtifactError, VocoderMismatchError) as err:
        raise SoundExportError(f"cannot export with the vocoder {vocoder}: {err}") from err
    return vocoder.eval()


def _export_graph(graph: nn.Module, example: dict[str, Tensor], path: Path, *, opset: int,
                  metadata: dict[str, str]) -> None:  # fmt: skip
    """Trace ``graph`` on ``example`` into ``path`` (atomically) with dynamic batch and length axes."""
    import onnx

    time_axis = {"z": 2, "codes": 2, "log_mag": 2}
    dynamic = {
        name: {0: "batch", **({time_axis[name]: "frames"} if name in time_axis else {})} for name in example
    }
    dynamic[graph.output_name] = {0: "batch", 2: "samples" if graph.output_name == "audio" else "spec_frames"}
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation and tracer notes
        traced = Path(tmp) / "graph.onnx"
        torch.onnx.export(
            graph.eval(),
            tuple(example.values()),
            str(traced),
            dynamo=False,  # TorchScript tracing: no branch depends on the batch or the length
            opset_version=opset,
            input_names=list(example),
            output_names=[graph.output_name],
            dynamic_axes=dynamic,
        )
        proto = onnx.load(str(traced))
    onnx.helper.set_model_props(proto, metadata)
    onnx.checker.check_model(proto)
    with atomic_path(path) as tmp_path:
        onnx.save(proto, str(tmp_path))


def export_sound(
    run_or_artifact: Any, out_dir: str | Path, *, vocoder: Any = None, opset: int = OPSET
) -> SoundExport:
    """Write a sound model's decoder (and, for a spectrogram model, its vocoder) as ONNX + ``sound.json``.

    Args:
        run_or_artifact: a :class:`SoundModel`, a sound artifact folder or its training run.
        out_dir: the export folder (created; earlier graphs of an export there are replaced).
        vocoder: spectrogram models: a :class:`SoundVocoder`, or its artifact or run folder; adds
            ``vocoder.onnx`` and ``decoder_vocoded.onnx``.
        opset: ONNX opset (17: onnxruntime >= 1.11).

    Raises:
        SoundExportError: no sound model there, a vocoder for a waveform model, or a vocoder of
            other STFT settings (sample rate, n_fft, hop, floor) than the model's.
    """
    from sesli import __version__

    start = time.perf_counter()
    model = _load_model(run_or_artifact)
    c = model.config
    voc = _load_vocoder(vocoder, c) if vocoder is not None else None
    decoder = SoundDecoderGraph(model)
    graphs: dict[str, nn.Module] = {"decoder": decoder}
    if voc is not None:
        graphs["vocoder"] = SoundVocoderGraph(voc)
        graphs["decoder_vocoded"] = SoundVocodedGraph(decoder, graphs["vocoder"])
    out_dir = Path(out_dir).expanduser()
    out_dir.mkdir(parents=True, exist_ok=True)
    example = example_inputs(c)
    with torch.no_grad():
        spec_example = {"log_mag": decoder(*example.values())} if voc is not None else {}
    written: dict[str, Path] = {}
    for name, graph in graphs.items():
        meta = {"model_type": "sound", "graph": name, "family": c.family, "sample_rate": str(c.sample_rate),
                "samples_per_frame": str(c.samples_per_frame), "contract": CONTRACT_FILE,
                "sesli_version": __version__}  # fmt: skip
        path = out_dir / GRAPH_FILES[name]
        _export_graph(graph, spec_example if name == "vocoder" else example, path, opset=opset, metadata=meta)
        written[name] = path
    if (out_dir / CONTRACT_FILE).is_file():  # an earlier export here: drop its graphs this one lacks
        for name, file in GRAPH_FILES.items():
            if name not in written:
                (out_dir / file).unlink(missing_ok=True)
    contract = sound_contract(model, {k: p.name for k, p in written.items()}, opset=opset)
    write_json(out_dir / CONTRACT_FILE, contract)
    return SoundExport(
        out_dir=out_dir,
        contract_path=out_dir / CONTRACT_FILE,
        contract=contract,
        decoder=written["decoder"],
        vocoder=written.get("vocoder"),
        decoder_vocoded=written.get("decoder_vocoded"),
        opset=opset,
        seconds=time.perf_counter() - start,
        graphs=written,
    )


__all__ = [
    "CONTRACT_FILE",
    "FORMAT",
    "FORMAT_VERSION",
    "OPSET",
    "SoundDecoderGraph",
    "SoundExport",
    "SoundExportError",
    "SoundVocodedGraph",
    "SoundVocoderGraph",
    "example_inputs",
    "export_sound",
    "sound_contract",
]
