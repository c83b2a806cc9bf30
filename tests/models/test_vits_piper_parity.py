"""The real Piper voice ``en_US-joe-medium`` imported into sesli, against onnxruntime on the same file.

With both noise scales at 0 the graph is deterministic, and sesli computes the same float32 maths,
so the audio must agree to float rounding: measured max |diff| 1.7e-5 (peak 0.51) and log-mel L1
~1e-5 on the sentence below. Durations are ``ceil`` of a float; a rounding flip would change the
length, which the test would show as a length mismatch.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")

# espeak-ng en-us IPA, as Piper phonemizes (written out here: no GPL phonemizer is imported)
SENTENCES = ["həlˈoʊ wˈɜːld, ðɪs ɪz ɐ tˈɛst.", "ðə kwˈɪk bɹˈaʊn fˈɑːks dʒˈʌmps ˌoʊvɚ ðə lˈeɪzi dˈɑːɡ."]


@pytest.fixture(scope="module")
def ort_session(packaged_piper_joe_onnx):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(str(packaged_piper_joe_onnx), opts, providers=["CPUExecutionProvider"])


def _ort(session, ids: list[int], length_scale: float = 1.0) -> np.ndarray:
    feeds = {
        "input": np.array([ids], dtype=np.int64),
        "input_lengths": np.array([len(ids)], dtype=np.int64),
        "scales": np.array([0.0, length_scale, 0.0], dtype=np.float32),
    }
    out = session.run(None, feeds)[0]
    assert out.shape[:3] == (1, 1, 1)  # Piper's (B, 1, 1, N)
    return out.reshape(-1)


def _logmel_l1(a: np.ndarray, b: np.ndarray) -> float:
    from sesli.audio.features import MelConfig, mel_spectrogram

    cfg = MelConfig(sample_rate=22050, n_fft=1024, win_length=1024, hop_length=256)
    mel = [torch.log(mel_spectrogram(torch.from_numpy(x), cfg, log=False)[0].clamp(min=1e-5)) for x in (a, b)]
    return (mel[0] - mel[1]).abs().mean().item()


@pytest.mark.parametrize(("sentence", "length_scale"), [(SENTENCES[0], 1.0), (SENTENCES[1], 1.25)])
def test_audio_matches_onnxruntime_without_noise(packaged_piper_joe, ort_session, sentence, length_scale):
    voice = packaged_piper_joe
    ids = voice.ids(sentence)
    ref = _ort(ort_session, ids, length_scale)
    out = voice.model.infer(torch.tensor([ids]), noise_scale=0.0, noise_w=0.0, length_scale=length_scale)
    audio = out.audio[0].numpy()
    assert audio.shape == ref.shape, "durations differ (the length of the audio)"
    assert int(out.lengths[0]) == ref.shape[0] == int(out.durations.sum()) * 256
    diff = float(np.abs(audio - ref).max())
    logmel = _logmel_l1(audio, ref)
    print(
        f"joe parity ({len(ids)} ids, length_scale {length_scale}): max|diff| {diff:.2e}, log-mel L1 {logmel:.2e}"
    )
    assert diff < 1e-3
    assert logmel < 1e-3


def test_import_reads_every_inference_weight(packaged_piper_joe):
    voice = packaged_piper_joe
    cfg = voice.model.config
    assert (cfg.sample_rate, cfg.hidden_channels, cfg.resblock, cfg.upsample_rates) == (
        22050,
        192,
        "2",
        (8, 8, 4),
    )
    assert cfg.resblock_dilation_sizes == ((1, 2), (2, 6), (3, 12))  # read from the graph's Conv nodes
    assert voice.model.sdp is not None and voice.model.dp is None
    # only training parts are left at their initial values
    assert voice.untrained and all(
        k.startswith(("enc_q.", "sdp.post_", "sdp.flows.1.")) for k in voice.untrained
    )
    assert voice.inference == {"noise_scale": 0.667, "length_scale": 1.0, "noise_w": 0.8}
    assert voice.meta["espeak"] == {"voice": "en-us"}
    assert all(torch.isfinite(v).all() for v in voice.model.state_dict().values())


def test_ids_follow_piper_convention(packaged_piper_joe):
    voice = packaged_piper_joe
    m = voice.phoneme_id_map
    assert voice.ids("ab") == [*m["^"], *m["_"], *m["a"], *m["_"], *m["b"], *m["_"], *m["$"]]
    from sesli.models.vits import PiperImportError

    with pytest.raises(PiperImportError, match="not in this voice's phoneme_id_map"):
        voice.ids("a\u4e00")


def test_noisy_inference_is_seeded_and_finite(packaged_piper_joe):
    ids = torch.tensor([packaged_piper_joe.ids(SENTENCES[0])])
    runs = [packaged_piper_joe.model.infer(ids, generator=torch.Generator().manual_seed(3)) for _ in range(2)]
    assert torch.equal(runs[0].audio, runs[1].audio)
    assert torch.isfinite(runs[0].audio).all() and runs[0].audio.abs().max() <= 1.0


def test_truncated_or_foreign_onnx_is_a_clear_error(packaged_piper_joe_onnx, tmp_path):
    import onnx
    from onnx import TensorProto, helper

    from sesli.models.vits import PiperImportError, load_piper_voice

    json_text = packaged_piper_joe_onnx.with_name(packaged_piper_joe_onnx.name + ".json").read_text()
    cut = tmp_path / "cut.onnx"
    with open(packaged_piper_joe_onnx, "rb") as fh:
        cut.write_bytes(fh.read(1 << 20))
    (tmp_path / "cut.onnx.json").write_text(json_text)
    with pytest.raises(PiperImportError, match="truncated or not an ONNX model"):
        load_piper_voice(cut)

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "g",
        [x],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    foreign = tmp_path / "foreign.onnx"
    onnx.save(helper.make_model(graph), str(foreign))
    (tmp_path / "foreign.onnx.json").write_text(json_text)
    with pytest.raises(PiperImportError, match="not a Piper voice"):
        load_piper_voice(foreign)

    lonely = tmp_path / "lonely.onnx"
    lonely.write_bytes(b"")
    with pytest.raises(PiperImportError, match="needs its config beside it"):
        load_piper_voice(lonely)
