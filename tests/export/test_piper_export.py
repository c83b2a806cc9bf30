"""Piper export: the graph against sesli's torch model, the JSON against the real joe voice, and the
real Piper runtime (``piper-tts``, GPL, run as a separate program from its own venv) speaking it.

Parity is measured with both noise scales at 0, where the graph is deterministic: the joe voice
re-exported by sesli agrees with sesli's torch inference to ~1.7e-5 (the import's own float
rounding) and with Piper's original file to ~2e-6; a tiny random Turkish voice agrees to ~1e-7,
batched items included.

The Piper runtime tests need ``.venv-piper`` (``python -m venv .venv-piper && .venv-piper/bin/pip
install piper-tts``) or ``SESLI_PIPER_PYTHON`` pointing at a Python that has ``piper``; they skip
with that hint otherwise. ``piper`` is never imported into this process.
"""

from __future__ import annotations

import ast
import json
import math
import os
import re
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from sesli.export.piper import (  # noqa: E402
    OPSET,
    TURKISH,
    PiperExportError,
    PiperMeta,
    export_piper,
    piper_config,
)
from sesli.models.vits import VitsModel, load_piper_voice, preset  # noqa: E402
from sesli.text import piper_ids  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PIPER_PYTHON = Path(os.environ.get("SESLI_PIPER_PYTHON") or ROOT / ".venv-piper" / "bin" / "python")
JOE_SENTENCE = "həlˈoʊ wˈɜːld, ðɪs ɪz ɐ tˈɛst."  # espeak-ng en-us, as Piper phonemizes it
TURKISH_SENTENCE = "Merhaba, çiçekçi dükkânı açık mı?"
# beside the sentence above: espeak-ng's allophones, length, palatals and, in numbers and
# abbreviations, its secondary stress ˌ (from the espeak-ng-tr-ipa reference sentences)
COVERAGE = [
    "Bu işten hiç kâr etmedik, dağda kar yağıyordu.",
    "Toplantı saat 14:30'da başlayacak; Dr. Ahmet Bey geliyor!",
    "Ürünün fiyatı 3,5 TL, yani %50 indirimli.",
    "Rüzgâr, kâğıt, hâlâ, mahkûm; öğrenciler gölde yüzüyor.",
]
SILENT = {"scales": np.array([0.0, 1.0, 0.0], dtype=np.float32)}


def _session(path: Path):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _run(session, ids: torch.Tensor, lengths: torch.Tensor, sid: list[int] | None = None) -> np.ndarray:
    feeds = {"input": ids.numpy(), "input_lengths": lengths.numpy(), **SILENT}
    if sid is not None:
        feeds["sid"] = np.array(sid, dtype=np.int64)
    out = session.run(None, feeds)[0]
    assert out.dtype == np.float32 and out.shape[1:3] == (1, 1)  # Piper's (B, 1, 1, N)
    return out[:, 0, 0]


def _batch(*phonemes: str) -> tuple[torch.Tensor, torch.Tensor]:
    seqs = [piper_ids.encode(p) for p in phonemes]
    ids = torch.zeros(len(seqs), max(map(len, seqs)), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s)
    return ids, torch.tensor([len(s) for s in seqs])


def _tiny(seed: int = 0, **overrides) -> VitsModel:
    """A tiny Turkish voice with every zero-initialised projection randomised (splines, couplings)."""
    torch.manual_seed(seed)
    model = VitsModel(preset("tiny", **{"n_symbols": len(piper_ids.PIPER_SYMBOLS), **overrides})).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(("proj.weight", "proj.bias", "post.weight", "post.bias")):
                p.normal_(0.0, 0.1)
    return model


@pytest.fixture(scope="module")
def joe_export(packaged_piper_joe_onnx, tmp_path_factory):
    """The real joe voice imported and re-exported by sesli (~10 s), with its source."""
    from sesli.export.vits_sources import load_piper_source

    src = load_piper_source(packaged_piper_joe_onnx)
    out = export_piper(
        src.model, src.meta, tmp_path_factory.mktemp("joe"), name=src.name, quality=src.quality
    )
    return out, src


@pytest.fixture(scope="module")
def tiny_export(tmp_path_factory):
    model = _tiny()
    out = export_piper(
        model, PiperMeta.turkish(), tmp_path_factory.mktemp("tiny"), name="tiny", sdp_ratio=0.5
    )
    return out, model


# -- parity --------------------------------------------------------------------------------------


def test_joe_reexport_matches_sesli_and_piper(joe_export, packaged_piper_joe, packaged_piper_joe_onnx):
    out, src = joe_export
    assert out.onnx_path.name == "en_US-joe-medium.onnx"
    ids = torch.tensor([packaged_piper_joe.ids(JOE_SENTENCE)])
    lengths = torch.tensor([ids.shape[1]])
    mine = _run(_session(out.onnx_path), ids, lengths)[0]
    piper = _run(_session(packaged_piper_joe_onnx), ids, lengths)[0]
    torch_audio = src.model.infer(ids, noise_scale=0.0, noise_w=0.0).audio[0].numpy()
    assert mine.shape == piper.shape == torch_audio.shape, "durations differ (the audio length)"
    vs_torch, vs_piper = float(np.abs(mine - torch_audio).max()), float(np.abs(mine - piper).max())
    print(f"joe re-export: max|diff| vs sesli torch {vs_torch:.2e}, vs Piper's file {vs_piper:.2e}")
    assert vs_torch < 1e-3 and vs_piper < 1e-3


def test_joe_reexport_reads_back(joe_export):
    """Node and weight names follow Piper's, so sesli's Piper importer reads the export back."""
    out, src = joe_export
    back = load_piper_voice(out.onnx_path)
    assert back.model.config.replace(extra={}) == src.model.config.replace(extra={})
    ids = torch.tensor([back.ids(JOE_SENTENCE)])
    a = back.model.infer(ids, noise_scale=0.0, noise_w=0.0).audio
    b = src.model.infer(ids, noise_scale=0.0, noise_w=0.0).audio
    assert a.shape == b.shape and float((a - b).abs().max()) < 1e-4


def test_tiny_turkish_voice_batch_parity(tiny_export):
    out, model = tiny_export
    ids, lengths = _batch("meɾhaba", "ʧiʧekʧi dykcaːnɯ aʧɯk mɯ?")  # different lengths
    onnx_audio = _run(_session(out.onnx_path), ids, lengths)
    ref = model.infer(ids, lengths, noise_scale=0.0, noise_w=0.0, sdp_ratio=0.5)
    assert onnx_audio.shape == tuple(ref.audio.shape)
    diff = float(np.abs(onnx_audio - ref.audio.numpy()).max())
    print(f"tiny Turkish voice, batch of 2: max|diff| {diff:.2e} (peak {float(ref.audio.abs().max()):.3f})")
    assert diff < 1e-5
    for i in range(2):  # each item as it would be alone, silence after its end
        n = int(ref.lengths[i])
        alone = model.infer(ids[i : i + 1, : lengths[i]], noise_scale=0.0, noise_w=0.0, sdp_ratio=0.5)
        assert np.abs(onnx_audio[i, :n] - alone.audio[0].numpy()).max() < 1e-5
        assert not onnx_audio[i, n:].any()


def test_unmasked_decoder_is_exact_one_sentence_at_a_time(tiny_export, tmp_path):
    _, model = tiny_export
    out = export_piper(model, PiperMeta.turkish(), tmp_path, name="tiny", sdp_ratio=0.5, batch_mask=False)
    ids, lengths = _batch("ʧiʧekʧi dykcaːnɯ aʧɯk mɯ?")
    ref = model.infer(ids, lengths, noise_scale=0.0, noise_w=0.0, sdp_ratio=0.5).audio.numpy()
    assert np.abs(_run(_session(out.onnx_path), ids, lengths) - ref).max() < 1e-5


def test_multi_speaker_voice_takes_sid(tmp_path):
    model = _tiny(seed=1, n_speakers=3, gin_channels=8, use_dp=False)
    meta = PiperMeta.turkish(speaker_id_map={"ayse": 0, "mehmet": 1, "zeynep": 2})
    out = export_piper(model, meta, tmp_path, name="trio", quality="low")
    assert out.inputs == ["input", "input_lengths", "scales", "sid"]
    assert out.config["num_speakers"] == 3 and out.config["speaker_id_map"]["zeynep"] == 2
    ids, lengths = _batch("ʃehiɾ", "ɟyzel biɾ ɟyn")
    onnx_audio = _run(_session(out.onnx_path), ids, lengths, sid=[2, 0])
    ref = model.infer(ids, lengths, noise_scale=0.0, noise_w=0.0, speaker=torch.tensor([2, 0])).audio
    assert onnx_audio.shape == tuple(ref.shape) and np.abs(onnx_audio - ref.numpy()).max() < 1e-5


def test_noise_is_drawn_in_the_graph(tiny_export):
    out, _ = tiny_export
    session = _session(out.onnx_path)
    ids, lengths = _batch("meɾhaba")
    feeds = {"input": ids.numpy(), "input_lengths": lengths.numpy()}
    noisy = [
        session.run(None, {**feeds, "scales": np.array([0.667, 1.0, 0.8], np.float32)})[0] for _ in range(2)
    ]
    assert noisy[0].shape != noisy[1].shape or not np.array_equal(noisy[0], noisy[1])
    slow = session.run(None, {**feeds, "scales": np.array([0.0, 2.0, 0.0], np.float32)})[0]
    assert slow.shape[-1] > session.run(None, {**feeds, **SILENT})[0].shape[-1]


# -- the contract --------------------------------------------------------------------------------


def _io(path: Path) -> tuple[dict, dict, int, list[str]]:
    import onnx

    proto = onnx.load(str(path), load_external_data=False)

    def spec(values):
        return {v.name: (v.type.tensor_type.elem_type, len(v.type.tensor_type.shape.dim)) for v in values}

    opset = next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
    return spec(proto.graph.input), spec(proto.graph.output), opset, [n.op_type for n in proto.graph.node]


def test_graph_has_pipers_inputs_and_output(joe_export, tiny_export, packaged_piper_joe_onnx):
    joe_in, joe_out, joe_opset, _ = _io(packaged_piper_joe_onnx)
    for out in (joe_export[0], tiny_export[0]):
        inputs, outputs, opset, ops = _io(out.onnx_path)
        assert inputs == joe_in  # input int64 (B, T), input_lengths int64 (B,), scales float32 (3,)
        assert outputs == joe_out  # output float32, rank 4
        assert opset == joe_opset == OPSET
        assert ops.count("Ceil") == 1  # piper.patch_voice_with_alignment finds the durations
        assert "ScatterElements" not in ops  # opset 15 cannot scatter-add exactly


def _shape_of(value):
    if isinstance(value, dict):
        return {k: _shape_of(v) for k, v in value.items()}
    return (
        "number" if isinstance(value, (int, float)) and not isinstance(value, bool) else type(value).__name__
    )


def test_config_has_every_field_of_the_joe_voice(joe_export, tiny_export, packaged_piper_joe_onnx):
    joe = json.loads(packaged_piper_joe_onnx.with_name(packaged_piper_joe_onnx.name + ".json").read_text())
    for out in (joe_export[0], tiny_export[0]):
        cfg = json.loads(out.config_path.read_text(encoding="utf-8"))
        assert cfg == out.config
        for key, value in joe.items():
            assert key in cfg, key
            if key in ("phoneme_id_map", "phoneme_map", "speaker_id_map"):
                assert isinstance(cfg[key], dict)
            else:
                assert _shape_of(cfg[key]) == _shape_of(value), key
        assert all(
            isinstance(v, list) and all(isinstance(i, int) for i in v) for v in cfg["phoneme_id_map"].values()
        )
    reexported = json.loads(joe_export[0].config_path.read_text())
    assert {k: v for k, v in reexported.items() if k != "hop_length"} == {
        **joe,
        "inference": reexported["inference"],
    }
    assert reexported["inference"] == {k: float(v) for k, v in joe["inference"].items()}


def test_turkish_config(tiny_export):
    out, model = tiny_export
    cfg = out.config
    assert (
        out.onnx_path.name == "tr_TR-tiny-medium.onnx"
        and out.config_path.name == "tr_TR-tiny-medium.onnx.json"
    )
    assert cfg["language"] == TURKISH and cfg["espeak"] == {"voice": "tr"} and cfg["phoneme_type"] == "espeak"
    assert cfg["audio"] == {"sample_rate": model.config.sample_rate, "quality": "medium"}
    assert cfg["num_symbols"] == model.config.n_symbols and cfg["num_speakers"] == 1
    assert cfg["hop_length"] == model.config.hop and cfg["piper_version"] == "1.0.0"
    assert cfg["phoneme_map"] == piper_ids.ESPEAK_PHONEME_MAP
    ids = cfg["phoneme_id_map"]
    assert all(ids[s] == [i] for s, i in piper_ids.phoneme_id_map().items())
    # espeak-ng's symbols folded in, for runtimes that ignore phoneme_map (piper-tts 1.x)
    assert ids["ɛ"] == ids["e"] and ids["r"] == ids["ɾ"] and ids["g"] == ids["ɡ"] and ids["ˌ"] == []


def test_bad_voices_are_clear_errors(tmp_path):
    model = _tiny(use_dp=False)
    meta = PiperMeta.turkish()
    with pytest.raises(PiperExportError, match="outside the model"):
        piper_config(_tiny(n_symbols=10, use_dp=False), meta)
    with pytest.raises(PiperExportError, match="quality must be one of"):
        piper_config(model, meta, quality="ultra")
    with pytest.raises(PiperExportError, match="splits file names"):
        export_piper(model, meta, tmp_path, name="my-voice")
    with pytest.raises(PiperExportError, match="framing symbols"):
        piper_config(model, PiperMeta(phoneme_id_map={"a": 5}))
    with pytest.raises(PiperExportError, match="speaker"):
        piper_config(model, PiperMeta.turkish(speaker_id_map={"x": 1}))
    with pytest.raises(PiperExportError, match="F0"):
        piper_config(_tiny(nsf=True, use_dp=False), meta)
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_fp16_keeps_float32_io(tiny_export, tmp_path):
    import onnx

    fp32, model = tiny_export
    out = export_piper(model, PiperMeta.turkish(), tmp_path, name="tiny", sdp_ratio=0.5, fp16=True)
    assert _io(out.onnx_path)[:2] == _io(fp32.onnx_path)[:2]

    def weights(path: Path) -> dict[int, int]:  # bytes of the weight matrices, by element type
        sizes: dict[int, int] = {}
        for init in onnx.load(str(path)).graph.initializer:
            if len(init.dims) > 1:
                sizes[init.data_type] = sizes.get(init.data_type, 0) + len(init.raw_data)
        return sizes

    half, full = weights(out.onnx_path), weights(fp32.onnx_path)
    assert set(half) == {onnx.TensorProto.FLOAT16} and set(full) == {onnx.TensorProto.FLOAT}
    assert half[onnx.TensorProto.FLOAT16] * 2 == full[onnx.TensorProto.FLOAT]
    ids, lengths = _batch("ʧiʧekʧi dykcaːnɯ aʧɯk mɯ?")
    half, full = _run(_session(out.onnx_path), ids, lengths), _run(_session(fp32.onnx_path), ids, lengths)
    assert half.shape == full.shape and np.abs(half - full).max() < 0.05 * max(np.abs(full).max(), 1e-3)


# -- the CLI and run directories -----------------------------------------------------------------


def _write_run(run: Path, model: VitsModel) -> None:
    from safetensors.torch import save_file

    run.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(run / "vits.safetensors"))
    meta = {
        "model_type": "vits",
        "config": model.config.to_dict(),
        "phoneme_id_map": {s: [i] for s, i in piper_ids.phoneme_id_map().items()},
        "speaker_id_map": {},
        "sample_rate": model.config.sample_rate,
        "inference": {"noise_scale": 0.5, "length_scale": 1.1, "noise_w": 0.6, "sdp_ratio": 0.3},
    }
    (run / "vits.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")


def test_cli_exports_a_run(tmp_path, capsys):
    from sesli.cli.vits_export import main_export

    model = _tiny(seed=2)
    _write_run(tmp_path / "runs" / "ayse-v1", model)
    assert main_export([str(tmp_path / "runs" / "ayse-v1"), "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    onnx_path = tmp_path / "out" / "tr_TR-ayse_v1-medium.onnx"
    assert str(onnx_path) in printed and "python -m piper" in printed
    cfg = json.loads(onnx_path.with_name(onnx_path.name + ".json").read_text(encoding="utf-8"))
    assert cfg["inference"] == {"noise_scale": 0.5, "length_scale": 1.1, "noise_w": 0.6}
    assert cfg["dataset"] == "ayse-v1"
    ids, lengths = _batch("ʃehiɾ")
    # the run's own sdp_ratio (0.3) was used
    ref = model.infer(ids, lengths, noise_scale=0.0, noise_w=0.0, sdp_ratio=0.3).audio.numpy()
    assert np.abs(_run(_session(onnx_path), ids, lengths) - ref).max() < 1e-5

    assert main_export([str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")]) == 2
    assert "neither a VITS run directory" in capsys.readouterr().err
    (tmp_path / "runs" / "ayse-v1" / "vits.safetensors").write_bytes(b"broken")
    assert main_export([str(tmp_path / "runs" / "ayse-v1"), "--out", str(tmp_path / "out")]) == 2
    assert "cannot read" in capsys.readouterr().err


# -- the real Piper runtime ----------------------------------------------------------------------

needs_piper = pytest.mark.skipif(
    not PIPER_PYTHON.is_file(),
    reason=f"the Piper runtime is not installed at {PIPER_PYTHON} (make piper-venv, or set SESLI_PIPER_PYTHON)",
)


def _piper(model: Path, lines: list[str], out: Path, *extra: str) -> list[list[str]]:
    """Run ``python -m piper`` (another process, another venv); returns the phonemes it logged."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    where = ["-d", str(out)] if len(lines) > 1 else ["-f", str(out)]
    proc = subprocess.run(
        [str(PIPER_PYTHON), "-m", "piper", "-m", str(model), *where, "--debug", *extra],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    log = proc.stderr
    assert proc.returncode == 0, log[-2000:]
    missing = re.findall(r"Missing phoneme from id map: (.*)", log)
    assert not missing, f"espeak-ng wrote symbols the voice has no id for: {sorted(set(missing))}"
    return [p for m in re.findall(r"phonemes=(\[\[.*\]\])\s*$", log, re.M) for p in ast.literal_eval(m)]


def _wav(path: Path) -> tuple[int, np.ndarray]:
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth()) == (1, 2)
        return w.getframerate(), np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)


@needs_piper
def test_piper_runtime_speaks_turkish_text(tmp_path):
    """espeak-ng inside piper phonemizes plain Turkish; every symbol has an id; the length is exact.

    The voice's durations are pinned (deterministic predictor only, log-duration ``log 2.5``, so
    ``ceil`` gives 3 frames per id), so the WAV must hold ``3 * hop`` samples per id Piper feeds:
    ``^ _``, then each phoneme's ids and a pad, then ``$``.
    """
    model = _tiny(seed=3, use_sdp=False)
    with torch.no_grad():
        model.dp.proj.weight.zero_()
        model.dp.proj.bias.fill_(math.log(2.5))
    out = export_piper(model, PiperMeta.turkish(), tmp_path, name="pinned", quality="x_low")
    id_map = out.config["phoneme_id_map"]
    sentences = _piper(out.onnx_path, [TURKISH_SENTENCE], tmp_path / "merhaba.wav")
    assert len(sentences) == 1 and {"t", "ʃ", "ɛ", "ɯ", "ː"} <= set(sentences[0])
    assert set(sentences[0]) <= set(id_map)
    n_ids = 3 + sum(len(id_map[p]) + 1 for p in sentences[0])
    rate, audio = _wav(tmp_path / "merhaba.wav")
    assert rate == model.config.sample_rate
    assert len(audio) == n_ids * 3 * model.config.hop  # ~1 s at 8 kHz
    assert 0.5 < len(audio) / rate < 3.0 and np.abs(audio).max() > 0

    wavs = tmp_path / "coverage"
    symbols = {p for s in _piper(out.onnx_path, COVERAGE, wavs) for p in s}
    assert len(list(wavs.glob("*.wav"))) == len(COVERAGE)
    assert {"ˌ", "ɪ", "æ", "ʊ", "ɔ", "œ", "ɫ", "r", "ɟ"} & symbols  # the folded map was exercised
    assert symbols <= set(id_map)


@needs_piper
def test_piper_runtime_speaks_the_reexported_joe_voice(joe_export, packaged_piper_joe_onnx, tmp_path):
    """English text through piper with sesli's re-export; without noise it is Piper's own file's audio."""
    out, _ = joe_export
    _piper(out.onnx_path, ["Hello world, this is a test."], tmp_path / "noisy.wav")
    rate, noisy = _wav(tmp_path / "noisy.wav")
    assert rate == 22050 and 1.0 < len(noisy) / rate < 3.5

    quiet = ("--noise-scale", "0", "--noise-w-scale", "0")
    _piper(out.onnx_path, ["Hello world, this is a test."], tmp_path / "mine.wav", *quiet)
    _piper(packaged_piper_joe_onnx, ["Hello world, this is a test."], tmp_path / "piper.wav", *quiet)
    mine, piper = _wav(tmp_path / "mine.wav")[1], _wav(tmp_path / "piper.wav")[1]
    assert mine.shape == piper.shape
    assert np.abs(mine.astype(int) - piper.astype(int)).max() <= 4  # int16 steps, after normalisation
