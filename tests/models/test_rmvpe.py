"""RMVPE: RVC's state-dict layout, strict loading, frame alignment, mel front-end and decoding."""

import numpy as np
import pytest
import torch

from sesli.audio.pitch import PitchError, extract_f0
from sesli.models.vc.rmvpe import RMVPE, load_rmvpe, rmvpe_filterbank, rmvpe_mel, salience_to_hz

TINY = dict(n_blocks=1, en_de_layers=2, inter_layers=1, en_out_channels=4, gru_hidden=8)
SR = 16000


def bin_hz(i: float) -> float:
    return 10.0 * 2.0 ** ((20.0 * i + 1997.3794084376191) / 1200.0)


@pytest.fixture(scope="module")
def tiny() -> RMVPE:
    torch.manual_seed(0)
    return RMVPE(**TINY).eval()


@pytest.fixture(scope="module")
def tiny_file(tiny, tmp_path_factory):
    path = tmp_path_factory.mktemp("rmvpe") / "tiny.pt"
    torch.save(tiny.state_dict(), path)
    return path


def test_full_size_matches_rvc_layout():
    # Names, shapes and counts of RVC's E2E(4, 1, (2, 2)), the rmvpe.pt that RVC and Applio ship.
    state = RMVPE().state_dict()
    assert len(state) == 741
    assert (
        sum(v.numel() for k, v in state.items() if "running" not in k and "num_batches" not in k)
        == 90_423_165
    )
    shapes = {
        "unet.encoder.bn.weight": (1,),
        "unet.encoder.layers.0.conv.0.shortcut.weight": (16, 1, 1, 1),
        "unet.encoder.layers.4.conv.3.conv.4.num_batches_tracked": (),
        "unet.intermediate.layers.0.conv.0.shortcut.weight": (512, 256, 1, 1),
        "unet.intermediate.layers.3.conv.3.conv.3.weight": (512, 512, 3, 3),
        "unet.decoder.layers.0.conv1.0.weight": (512, 256, 3, 3),
        "unet.decoder.layers.4.conv2.0.shortcut.weight": (16, 32, 1, 1),
        "cnn.weight": (3, 16, 3, 3),
        "fc.0.gru.weight_ih_l0": (768, 384),
        "fc.0.gru.weight_hh_l0_reverse": (768, 256),
        "fc.1.weight": (360, 512),
    }
    assert {k: tuple(state[k].shape) for k in shapes} == shapes


def test_save_load_round_trip(tiny, tiny_file):
    loaded = load_rmvpe(tiny_file, **TINY)
    assert not loaded.training
    mel = torch.randn(1, 128, 37)
    with torch.no_grad():
        np.testing.assert_array_equal(tiny.salience(mel).numpy(), loaded.salience(mel).numpy())


@pytest.mark.parametrize("n_samples", [640, 16000, 16159, 16160, 20000])
def test_frames_line_up_with_100_fps_features(tiny, n_samples):
    wav = (0.1 * np.random.default_rng(n_samples).standard_normal(n_samples)).astype(np.float32)
    n_frames = 1 + n_samples // 160
    assert rmvpe_mel(torch.from_numpy(wav)).shape == (1, 128, n_frames)
    f0 = tiny.infer(wav)
    assert f0.shape == (n_frames,) and f0.dtype == np.float32 and (f0 >= 0).all()
    assert extract_f0(wav, "rmvpe", model=tiny).shape == (n_frames,)


def test_salience_shape(tiny):
    assert tiny.salience(torch.randn(2, 128, 45)).shape == (2, 45, 360)


def test_filterbank_is_librosa_htk_slaney():
    # Reference numbers from librosa.filters.mel(sr=16000, n_fft=1024, n_mels=128, fmin=30,
    # fmax=8000, htk=True), which RVC's MelSpectrogram uses.
    fb = rmvpe_filterbank().numpy()
    assert fb.shape == (128, 513)
    np.testing.assert_allclose(fb.sum(), 8.189247, rtol=1e-5)
    assert (fb[0].argmax(), fb[64].argmax(), fb[127].argmax()) == (3, 118, 501)
    np.testing.assert_allclose(
        [fb[0].max(), fb[64].max(), fb[127].max()], [0.05678504, 0.020166064, 0.0058608907], rtol=1e-5
    )


def test_decode_one_hot_bins():
    sal = np.zeros((4, 360), dtype=np.float32)
    sal[0, 0] = 1.0
    sal[1, 100] = 0.9
    sal[2, 200], sal[2, 199], sal[2, 201] = 0.8, 0.4, 0.4  # symmetric: stays on the bin
    sal[3, 250], sal[3, 251] = 0.5, 0.5  # halfway between two bins
    np.testing.assert_allclose(
        salience_to_hz(sal), [bin_hz(0), bin_hz(100), bin_hz(200), bin_hz(250.5)], rtol=1e-5
    )
    assert abs(bin_hz(0) - 31.7) < 0.01


def test_decode_threshold_gives_unvoiced():
    sal = np.zeros((3, 360), dtype=np.float32)
    sal[0, 120] = 0.03  # at the threshold: unvoiced (RVC tests max <= threshold)
    sal[1, 120] = 0.031
    got = salience_to_hz(sal)  # frame 2: all zeros
    assert got[0] == 0.0 and got[2] == 0.0 and got[1] == pytest.approx(bin_hz(120), rel=1e-5)
    assert salience_to_hz(sal, threshold=0.5)[1] == 0.0


def test_load_errors_name_the_problem(tiny, tmp_path):
    with pytest.raises(PitchError, match="assets/rmvpe/rmvpe.pt"):
        load_rmvpe(tmp_path / "missing.pt")
    state = tiny.state_dict()
    cases = {
        "missing": {k: v for k, v in state.items() if k != "cnn.bias"},
        "unexpected": {**state, "extra.weight": torch.zeros(1)},
        "shape": {**state, "cnn.bias": torch.zeros(4)},
    }
    needles = {"missing": r"1 missing keys \['cnn.bias'\]", "unexpected": "extra.weight", "shape": "cnn.bias"}
    for name, bad in cases.items():
        torch.save(bad, tmp_path / f"{name}.pt")
        with pytest.raises(PitchError, match=needles[name]):
            load_rmvpe(tmp_path / f"{name}.pt", **TINY)
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(PitchError, match="not an RMVPE state dict"):
        load_rmvpe(tmp_path / "list.pt", **TINY)
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(PitchError, match="cannot read"):
        load_rmvpe(tmp_path / "junk.pt", **TINY)
