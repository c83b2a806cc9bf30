"""Pitch for voice conversion: RVC's coarse scale, extraction frame count, accuracy, shifting, errors."""

import sys

import numpy as np
import pytest
from scipy.signal import medfilt

from sesli.audio import pitch
from sesli.audio.pitch import F0_MAX, F0_MIN, PitchError, coarse_f0, extract_f0, shift_f0

SR = 16000


def harmonics(f0: float = 200.0, seconds: float = 1.0, n: int = 5) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (0.3 * sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, n + 1))).astype(np.float32)


@pytest.fixture(scope="module")
def voiced() -> np.ndarray:
    return harmonics()


def test_coarse_fixed_points():
    got = coarse_f0(np.array([0.0, 10.0, F0_MIN, 100.0, 200.0, 440.0, F0_MAX, 2000.0]))
    assert got.dtype == np.int64
    # 200 Hz: (1127 ln(1 + 200/700) - mel_min) * 254 / (mel_max - mel_min) + 1 = 53.90
    assert got.tolist() == [1, 1, 1, 20, 54, 122, 255, 255]


def test_coarse_is_monotonic_and_keeps_shape():
    hz = np.linspace(F0_MIN, F0_MAX, 2000)
    got = coarse_f0(hz)
    assert (np.diff(got) >= 0).all() and got[0] == 1 and got[-1] == 255
    assert set(np.unique(got)) == set(range(1, 256))  # every index is reachable
    assert coarse_f0(np.zeros((2, 7))).shape == (2, 7)


def test_shift_f0():
    f0 = np.array([0.0, 100.0, 220.0, 0.0], dtype=np.float32)
    np.testing.assert_allclose(shift_f0(f0, 12), [0.0, 200.0, 440.0, 0.0], rtol=1e-6)
    np.testing.assert_allclose(shift_f0(f0, -12), [0.0, 50.0, 110.0, 0.0], rtol=1e-6)
    np.testing.assert_allclose(shift_f0(f0, 7)[1], 100.0 * 2 ** (7 / 12), rtol=1e-6)
    assert shift_f0(f0, 3).dtype == np.float32


@pytest.mark.parametrize("n_samples", [640, 16000, 16159, 16160])
def test_frame_count_is_one_plus_len_over_hop(n_samples):
    f0 = extract_f0(harmonics(seconds=n_samples / SR), "dio")
    assert f0.shape == (1 + n_samples // 160,) and f0.dtype == np.float32


@pytest.mark.parametrize("method", ["harvest", "dio"])
def test_pyworld_finds_200_hz(voiced, method):
    f0 = extract_f0(voiced, method)
    assert f0.shape == (101,)
    assert (f0 > 0).mean() > 0.9
    assert abs(np.median(f0[f0 > 0]) - 200.0) < 4.0  # 2 %


def test_harvest_median_filter_follows_rvc():
    x = harmonics(seconds=0.5) + 0.05 * np.random.default_rng(0).standard_normal(8000).astype(np.float32)
    raw = extract_f0(x, "harvest", filter_radius=0)
    np.testing.assert_allclose(
        extract_f0(x, "harvest", filter_radius=3), medfilt(raw.astype(np.float64), 3), rtol=1e-6
    )


def test_silence_is_unvoiced():
    f0 = extract_f0(np.zeros(SR // 2, dtype=np.float32), "dio")
    assert f0.shape == (51,) and not f0.any()


@pytest.mark.parametrize(
    ("wav", "needle"),
    [
        (np.zeros(0, dtype=np.float32), "empty"),
        (np.zeros(639, dtype=np.float32), "too short"),
        (np.full(SR, np.nan, dtype=np.float32), "NaN"),
        (np.zeros((2, SR), dtype=np.float32), "mono"),
        (np.zeros(SR, dtype=np.int16), "float"),
    ],
)
def test_bad_audio(wav, needle):
    with pytest.raises(PitchError, match=needle):
        extract_f0(wav, "dio")


def test_unknown_method_lists_known_ones(voiced):
    with pytest.raises(PitchError, match="harvest, dio, rmvpe, fcpe"):
        extract_f0(voiced, "yin")
    with pytest.raises(PitchError, match="rmvpe"):
        extract_f0(voiced, "crepe")
    assert issubclass(PitchError, ValueError)


def test_rmvpe_without_weights_says_where_to_get_them(voiced, tmp_path):
    for path in (None, tmp_path / "nope.pt"):
        with pytest.raises(PitchError, match="assets/rmvpe/rmvpe.pt") as err:
            extract_f0(voiced, "rmvpe", model_path=path)
        assert "--f0-model" in str(err.value)
    weights = tmp_path / "rmvpe.pt"
    weights.write_bytes(b"")
    with pytest.raises(PitchError, match="load_rmvpe"):
        extract_f0(voiced, "rmvpe", model_path=weights)
    with pytest.raises(PitchError, match="16 kHz"):
        extract_f0(voiced, "rmvpe", sample_rate=24000)


def test_rmvpe_uses_the_given_model(voiced):
    class Flat:
        def infer(self, wav16k):
            return np.full(1 + len(wav16k) // 160, 123.0)

    np.testing.assert_array_equal(extract_f0(voiced, "rmvpe", model=Flat()), np.full(101, 123.0, np.float32))


def test_fcpe_without_package_says_how_to_install(voiced, monkeypatch):
    monkeypatch.setitem(sys.modules, "torchfcpe", None)  # import raises ImportError
    pitch._fcpe_model.cache_clear()
    with pytest.raises(PitchError, match="pip install torchfcpe"):
        extract_f0(voiced, "fcpe")
    pitch._fcpe_model.cache_clear()
