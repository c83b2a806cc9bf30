"""ONNX export of the sound decoders: onnxruntime vs torch at two lengths, the vocoder graphs,
the sound.json contract driving the graphs alone, and the errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from sesli.artifacts import ArtifactMeta, save_artifact
from sesli.export.sound import CONTRACT_FILE, SoundExportError, example_inputs, export_sound
from sesli.models.sound.artifact import save_sound_model
from sesli.models.sound.config import preset
from sesli.models.sound.model import SoundModel
from sesli.models.sound.vocoder import MODEL_TYPE as VOCODER_TYPE
from sesli.models.sound.vocoder import SoundVocoder, VocoderConfig

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

LABELS = ["rain", "waves", "wind"]
TOL = 1e-4


def _model(name: str, **overrides) -> SoundModel:
    torch.manual_seed(0)
    return SoundModel(preset(name, **overrides)).eval()


def _vocoder(n_fft: int = 256, hop: int = 64) -> SoundVocoder:
    """vocoder-tiny's generator; conv_post scaled so random-init audio is not ~1e-7 (a real test)."""
    torch.manual_seed(1)
    rates = [8, 8] if hop == 64 else [8, 4]
    config = VocoderConfig(n_fft=n_fft, hop_length=hop, resblock="2", resblock_kernel_sizes=[3],
                           resblock_dilation_sizes=[[1, 3]], upsample_rates=rates,
                           upsample_kernel_sizes=[16, 16], upsample_initial_channel=64)  # fmt: skip
    vocoder = SoundVocoder(config)
    with torch.no_grad():
        vocoder.generator.conv_post.weight.mul_(300.0)
    return vocoder.eval()


def _save_vocoder(vocoder: SoundVocoder, directory):
    meta = ArtifactMeta(model_type=VOCODER_TYPE, config=vocoder.config.to_dict(),
                        sample_rate=vocoder.config.sample_rate, symbols="")  # fmt: skip
    return save_artifact(directory, vocoder.state_dict(), meta)


def _session(path):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _run(session, feeds: dict[str, torch.Tensor]) -> np.ndarray:
    return session.run(None, {k: v.numpy() for k, v in feeds.items()})[0]


def _torch_decode(model: SoundModel, feeds: dict[str, torch.Tensor]):
    with torch.no_grad():
        if "codes" in feeds:
            return model.decode_codes(feeds["codes"], feeds.get("label"), feeds.get("pitch"))
        return model.decode(feeds["z"], feeds.get("label"), feeds.get("pitch"))


@pytest.mark.parametrize(
    ("name", "overrides", "inputs", "output"),
    [
        ("vae-wave-tiny", {"labels": LABELS, "use_pitch": True}, ["z", "label", "pitch"], "audio"),
        ("vaegan-tiny", {}, ["z"], "audio"),
        ("vqvae-tiny", {"labels": LABELS, "n_quantizers": 2}, ["codes", "label"], "log_mag"),
        ("vae-tiny", {"use_pitch": True}, ["z", "pitch"], "log_mag"),
    ],
)
def test_decoder_matches_torch_at_two_lengths_and_batches(tmp_path, name, overrides, inputs, output):
    model = _model(name, **overrides)
    result = export_sound(model, tmp_path)
    assert result.vocoder is None and list(result.graphs) == ["decoder"]
    session = _session(result.decoder)
    assert [i.name for i in session.get_inputs()] == inputs
    assert [o.name for o in session.get_outputs()] == [output]
    types = {i.name: i.type for i in session.get_inputs()}
    assert types[inputs[0]] == ("tensor(int64)" if inputs[0] == "codes" else "tensor(float)")
    assert all(types[k] == "tensor(int64)" for k in ("label", "pitch") if k in types)
    cfg = model.config
    for frames, batch in ((3, 1), (11, 3)):  # traced at 8 frames, batch 2
        feeds = example_inputs(cfg, frames=frames, batch=batch, seed=frames)
        got = _run(session, feeds)
        dec = _torch_decode(model, feeds)
        ref = (dec.audio if output == "audio" else dec.log_mag).numpy()
        assert got.shape == ref.shape
        if output == "audio":
            assert got.shape == (batch, 1, frames * cfg.samples_per_frame)
        else:
            assert got.shape == (batch, cfg.n_bins, frames * cfg.samples_per_frame // cfg.hop_length + 1)
        assert np.abs(ref).max() > 1e-2  # random init still makes a signal worth comparing
        assert np.abs(got - ref).max() < TOL


def test_vocoder_and_fused_graphs_match_torch(tmp_path):
    model = _model("vae-tiny", labels=LABELS)
    vocoder = _vocoder()
    _save_vocoder(vocoder, tmp_path / "voc_run" / "model")
    result = export_sound(model, tmp_path / "out", vocoder=tmp_path / "voc_run")  # a run folder
    assert set(result.graphs) == {"decoder", "vocoder", "decoder_vocoded"}
    assert result.contract["audio_output"] == "decoder_vocoded"
    voc_session, fused = _session(result.vocoder), _session(result.decoder_vocoded)
    assert [i.name for i in fused.get_inputs()] == ["z", "label"]
    spf = model.config.samples_per_frame
    for frames in (2, 9):
        feeds = example_inputs(model.config, frames=frames, batch=2, seed=frames)
        log_mag = _torch_decode(model, feeds).log_mag  # (B, K, F)
        with torch.no_grad():
            ref = vocoder(log_mag, frames * spf).numpy()  # (B, 1, T' spf) = (F - 1) hop
        assert np.abs(ref).max() > 1e-2
        got = _run(voc_session, {"log_mag": log_mag})
        assert got.shape == ref.shape and np.abs(got - ref).max() < TOL
        got = _run(fused, feeds)
        assert got.shape == (2, 1, frames * spf) and np.abs(got - ref).max() < TOL
    again = export_sound(model, tmp_path / "out")  # without the vocoder: its graphs go
    assert not (tmp_path / "out" / "vocoder.onnx").exists()
    assert not (tmp_path / "out" / "decoder_vocoded.onnx").exists()
    assert again.contract["audio_output"] is None and list(again.contract["graphs"]) == ["decoder"]


def test_sound_json_alone_drives_the_decoder(tmp_path):
    """A game-side script: json + onnxruntime only, a label name and seconds in, audio out."""
    model = _model("vae-wave-tiny", labels=LABELS, use_pitch=True)
    save_sound_model(tmp_path / "run" / "model", model, extra={"step": 1234})
    export_sound(tmp_path / "run", tmp_path / "game")  # from a training run folder
    contract = json.loads((tmp_path / "game" / CONTRACT_FILE).read_text())
    assert contract["family"] == "vae" and contract["representation"] == "waveform"
    assert contract["sample_rate"] == 16000 and contract["samples_per_frame"] == 256
    assert contract["latent_dim"] == 8 and contract["latent"]["kind"] == "gaussian"
    assert contract["labels"] == [{"id": i, "name": n} for i, n in enumerate(LABELS)]
    assert contract["label_ids"] == {"rain": 0, "waves": 1, "wind": 2}
    assert contract["use_pitch"] is True and contract["trained_steps"] == 1234
    assert contract["sesli_version"] and contract["opset"] == 17 and contract["audio_output"] == "decoder"
    graph = contract["graphs"]["decoder"]
    assert [i["name"] for i in graph["inputs"]] == ["z", "label", "pitch"]
    assert graph["inputs"][0]["shape"] == ["batch", 8, "frames"]
    assert graph["outputs"] == [{"name": "audio", "dtype": "float32", "shape": ["batch", 1, "frames * 256"]}]

    seconds = 0.5
    frames = math.ceil(seconds * contract["sample_rate"] / contract["samples_per_frame"])
    rng = np.random.default_rng(0)
    feeds = {"z": rng.standard_normal((1, contract["latent_dim"], frames)).astype(np.float32),
             "label": np.array([contract["label_ids"]["waves"]]), "pitch": np.array([60])}  # fmt: skip
    session = _session(tmp_path / "game" / graph["file"])
    audio = session.run(None, feeds)[0]
    assert audio.shape == (1, 1, frames * 256) and np.isfinite(audio).all()
    ref = _torch_decode(model, {k: torch.from_numpy(v) for k, v in feeds.items()}).audio.numpy()
    assert np.abs(audio - ref).max() < TOL
    # -1 (and an id out of range) decode with no label / unknown pitch, as torch's None does
    none = session.run(None, {**feeds, "label": np.array([-1]), "pitch": np.array([-1])})[0]
    odd = session.run(None, {**feeds, "label": np.array([7]), "pitch": np.array([300])})[0]
    with torch.no_grad():
        ref_none = model.decode(torch.from_numpy(feeds["z"])).audio.numpy()
    assert np.abs(none - ref_none).max() < TOL and np.abs(odd - ref_none).max() < TOL
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "game" / "decoder.onnx")).metadata_props}
    assert (
        meta["model_type"] == "sound" and meta["sample_rate"] == "16000" and meta["contract"] == CONTRACT_FILE
    )


def test_clear_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SoundExportError, match="no sound model"):
        export_sound(tmp_path / "empty", tmp_path / "out")
    vocoder = _vocoder()
    _save_vocoder(vocoder, tmp_path / "voc")
    with pytest.raises(SoundExportError, match="'sound-vocoder' model, not a 'sound'"):
        export_sound(tmp_path / "voc", tmp_path / "out")
    with pytest.raises(SoundExportError, match="without a vocoder"):
        export_sound(_model("vaegan-tiny"), tmp_path / "out", vocoder=vocoder)
    with pytest.raises(SoundExportError, match=r"n_fft 256 \(vocoder: 512\)"):
        export_sound(_model("vae-tiny"), tmp_path / "out", vocoder=_vocoder(n_fft=512))
    with pytest.raises(SoundExportError, match="hop_length 64 \\(vocoder: 32\\)"):
        export_sound(_model("vae-tiny"), tmp_path / "out", vocoder=_vocoder(hop=32))
    with pytest.raises(SoundExportError, match="not a sesli bundle"):
        export_sound(_model("vae-tiny"), tmp_path / "out", vocoder=tmp_path / "missing")
    assert not (tmp_path / "out" / CONTRACT_FILE).exists()  # nothing written by a failed export
