"""End to end with the debug model: sesli.inference.load -> synthesize / stream, sesli say, bad input."""

import io

import numpy as np
import pytest
import soundfile as sf
import torch

from sesli.cli.say import main as say
from sesli.inference import ModelLoadError, SynthesisError, load
from sesli.models.kokoro import KokoroModel, official_config
from sesli.models.kokoro.loading import (
    build_debug,
    flatten_state,
    load_state,
    official_state_dict,
    save_pretrained,
)

TEXT = "Merhaba, size nasıl yardımcı olabilirim?"


@pytest.fixture(scope="module")
def synth():
    torch.set_num_threads(1)
    return load("debug", noise=False)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return save_pretrained(
        build_debug(), tmp_path_factory.mktemp("bundle") / "kokoro-debug", official_pth=True
    )


def test_synthesize_turkish_text(synth):
    out = synth.synthesize(TEXT)
    assert out.sample_rate == 24000 and out.audio.dtype == np.float32 and out.audio.ndim == 1
    assert out.duration > 0.2 and np.abs(out.audio).max() > 0
    assert out.chunks == ["mˈeɾhaba, sizˈe nˈasɯl jaɾdɯmʤˈɯ olabiliɾˈim?"] and out.unknown == []
    again = synth.synthesize(TEXT)
    np.testing.assert_array_equal(out.audio, again.audio)  # noise=False: deterministic


def test_batched_chunks_equal_one_by_one(synth):
    text = "Bugün hava güzel. Yarın yağmur yağacak mı? Bilmiyorum, belki de yağar."
    chunks, _, _ = synth.prepare(text)
    pack = synth.voice_pack()
    batched = synth.synthesize_chunks(chunks, pack)
    for chunk, audio in zip(chunks, batched, strict=True):
        alone = synth.synthesize_chunks([chunk], pack)[0]
        assert audio.shape == alone.shape
        np.testing.assert_allclose(
            audio, alone, atol=1e-3
        )  # float32 rounding; exact in float64 (model tests)


def test_long_text_is_chunked_and_joined_with_pauses(synth):
    sentences = ["Bugün hava çok güzel.", "Yarın sabah erkenden yola çıkacağız.", "Akşam eve döneriz."]
    out = synth.synthesize(" ".join(sentences))
    parts = [synth.synthesize(s).audio for s in sentences]
    pause = int(0.2 * 24000)
    assert len(out.chunks) == 3
    assert len(out.audio) == sum(map(len, parts)) + 2 * pause
    np.testing.assert_allclose(out.audio[: len(parts[0])], parts[0], atol=1e-3)
    assert not out.audio[len(parts[0]) : len(parts[0]) + pause].any()


def test_stream_yields_sentence_by_sentence(synth):
    pieces = list(synth.stream("Birinci cümle. İkinci cümle. Üçüncü cümle."))
    whole = synth.synthesize("Birinci cümle. İkinci cümle. Üçüncü cümle.")
    assert len(pieces) == 3
    assert sum(map(len, pieces)) == len(whole.audio)


def test_twenty_thousand_characters_are_handled(synth):
    text = ("Bu uzun bir metindir ve birçok cümleden oluşur, her biri kısa bir duraklamayla biter. " * 250)[
        :20_000
    ]
    chunks, unknown, _ = synth.prepare(text)
    assert len(chunks) >= 200 and unknown == []
    assert all(len(c.phonemes) <= 510 for c in chunks)
    first = next(synth.stream(text))  # time to first audio does not wait for the rest
    assert first.ndim == 1 and len(first) > 0


@pytest.mark.parametrize(
    ("text", "match"),
    [("", "text is empty"), ("   \n", "text is empty"), ("?!... —", "only punctuation"), ("你好世界", "你")],
)
def test_nothing_to_say_is_a_clear_error(synth, text, match):
    with pytest.raises(SynthesisError, match=f"nothing to say.*{match}"):
        synth.synthesize(text)


def test_unknown_script_inside_turkish_is_reported_not_fatal(synth):
    with pytest.warns(UserWarning, match="你"):
        out = synth.synthesize("Merhaba 你好 dünya.")
    assert "你" in out.unknown and len(out.audio) > 0


def test_voices_by_name_file_tensor_and_bad_shapes(synth, tmp_path):
    r = synth.config.ref_dim
    pack = torch.randn(510, 1, r)
    torch.save(pack, tmp_path / "v.pt")
    a = synth.synthesize("Evet.", voice=pack).audio
    b = synth.synthesize("Evet.", voice=str(tmp_path / "v.pt")).audio
    np.testing.assert_array_equal(a, b)
    for bad in (torch.randn(510, 1, r + 1), torch.randn(510, 2, r), torch.full((510, 1, r), float("nan"))):
        with pytest.raises(SynthesisError, match="voice"):
            synth.synthesize("Evet.", voice=bad)
    with pytest.raises(SynthesisError, match="unknown voice 'nope'.*debug"):
        synth.synthesize("Evet.", voice="nope")
    (tmp_path / "junk.pt").write_bytes(b"not a tensor")
    with pytest.raises(SynthesisError, match="cannot read voice"):
        synth.synthesize("Evet.", voice=str(tmp_path / "junk.pt"))
    with pytest.raises(SynthesisError, match="speed"):
        synth.synthesize("Evet.", speed=0)


def test_bundle_round_trip_gives_the_same_audio(synth, bundle):
    again = load(bundle, noise=False)
    assert again.loaded.default_voice == "debug"
    np.testing.assert_array_equal(again.synthesize(TEXT).audio, synth.synthesize(TEXT).audio)
    official = load(bundle / "kokoro.pth", noise=False)  # official layout, config.json beside it
    np.testing.assert_array_equal(official.synthesize(TEXT).audio, synth.synthesize(TEXT).audio)


def test_corrupt_and_truncated_weights_are_clear_errors(bundle, tmp_path):
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"\x00\x01 definitely not a checkpoint")
    with pytest.raises(ModelLoadError, match="corrupt or truncated"):
        load(garbage)
    data = (bundle / "kokoro.pth").read_bytes()
    cut = tmp_path / "cut" / "kokoro.pth"
    cut.parent.mkdir()
    cut.write_bytes(data[: len(data) // 2])
    (cut.parent / "config.json").write_bytes((bundle / "config.json").read_bytes())
    with pytest.raises(ModelLoadError, match="corrupt or truncated"):
        load(cut)
    tampered = tmp_path / "tampered"
    save_pretrained(build_debug(), tampered)
    raw = bytearray((tampered / "weights.safetensors").read_bytes())
    raw[-10] ^= 0xFF
    (tampered / "weights.safetensors").write_bytes(bytes(raw))
    with pytest.raises(ModelLoadError, match="sha256"):
        load(tampered)
    with pytest.raises(ModelLoadError, match="not found"):
        load(tmp_path / "missing.pth")


def test_config_weights_mismatch_is_a_clear_error(bundle, tmp_path):
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    (wrong / "kokoro.pth").write_bytes((bundle / "kokoro.pth").read_bytes())  # debug weights ...
    # ... with no config.json beside them: the official 82M config is assumed and does not fit
    with pytest.raises(ModelLoadError, match="does not fit this Kokoro config.*shape mismatches"):
        load(wrong / "kokoro.pth")


def test_both_weight_norm_namings_load():
    model = build_debug().model
    state = official_state_dict(model)
    renamed = {
        sub: {
            k.replace(".weight_g", ".parametrizations.weight.original0").replace(
                ".weight_v", ".parametrizations.weight.original1"
            ): v
            for k, v in sd.items()
        }
        for sub, sd in state.items()
    }
    fresh = KokoroModel(model.config)
    load_state(fresh, renamed)
    assert all(
        torch.equal(a, b)
        for a, b in zip(fresh.state_dict().values(), model.state_dict().values(), strict=True)
    )
    assert set(flatten_state(renamed)) == set(model.state_dict())


def test_offline_hub_without_cache_says_where_to_put_files(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(ModelLoadError, match="hexgrad/Kokoro-82M.*--model DIR.*--model debug"):
        load("hexgrad/Kokoro-82M")
    assert official_config().n_token == 178


def test_cli_say_writes_a_wav_and_a_plot(tmp_path, capsys):
    out = tmp_path / "merhaba.wav"
    assert say([TEXT, "-o", str(out), "--model", "debug", "--plot"]) == 0
    audio, sr = sf.read(out, dtype="float32")
    info = sf.info(out)
    assert sr == 24000 and info.subtype == "PCM_16" and len(audio) > 4800 and np.abs(audio).max() > 0
    assert (tmp_path / "merhaba.png").stat().st_size > 1000
    assert "1 chunk" in capsys.readouterr().out


def test_cli_say_reads_stdin_and_files_and_reports_errors(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("Günaydın. İyi günler."))
    assert say(["-", "-o", str(tmp_path / "a.wav"), "--model", "debug"]) == 0
    assert "2 chunk" in capsys.readouterr().out
    text_file = tmp_path / "metin.txt"
    text_file.write_text("Kitap okumayı severim 你.", encoding="utf-8")
    assert (
        say(["--file", str(text_file), "-o", str(tmp_path / "b.wav"), "--model", "debug", "--speed", "1.2"])
        == 0
    )
    assert "你" in capsys.readouterr().err
    assert say(["...", "-o", str(tmp_path / "c.wav"), "--model", "debug"]) == 1
    assert "nothing to say" in capsys.readouterr().err
    assert not (tmp_path / "c.wav").exists()
    assert say(["Merhaba", "-o", str(tmp_path / "d.wav"), "--model", str(tmp_path / "nope.pth")]) == 1
    assert "not found" in capsys.readouterr().err


def test_hub_id_loads_from_the_huggingface_cache_offline(bundle, tmp_path, monkeypatch):
    """A cached hub model loads with no network: the cache layout huggingface_hub itself reads."""
    from sesli.models.kokoro.loading import from_pretrained

    repo = tmp_path / "hf" / "hub" / "models--hexgrad--Kokoro-82M"
    commit = "0123456789abcdef0123456789abcdef01234567"
    snap = repo / "snapshots" / commit
    snap.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    (snap / "config.json").write_bytes((bundle / "config.json").read_bytes())
    (snap / "kokoro-v1_0.pth").write_bytes((bundle / "kokoro.pth").read_bytes())
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    loaded = from_pretrained("hexgrad/Kokoro-82M", cache_dir=str(tmp_path / "hf" / "hub"))
    reference = build_debug().model
    assert all(
        torch.equal(a, b)
        for a, b in zip(loaded.model.state_dict().values(), reference.state_dict().values(), strict=True)
    )
    with pytest.raises(ModelLoadError, match="sha256"):
        from_pretrained(
            "hexgrad/Kokoro-82M", cache_dir=str(tmp_path / "hf" / "hub"), expected_sha256="0" * 64
        )
    with pytest.raises(ModelLoadError, match="voice 'af_heart' is not available"):
        loaded.fetch_voice("af_heart")
