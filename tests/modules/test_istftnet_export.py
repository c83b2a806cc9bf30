"""The generator's export path (ConvSTFT, batch 1, no loops) against its training/inference path.

What is comparable, and how closely (measured on the debug model's generator):

* given the same source spectrum, the rest of the export path (stages, ``conv_post``, the iSTFT by
  convolution) equals the current path to ~1.2e-7 (audio peak ~0.3);
* the source spectrum itself: magnitudes to ~5e-7; phases to ~9e-5 rad wherever the angle is
  defined. Where it is not (empty bins of a constant source, bins on the branch cut, every bin of
  the first frame, which reflect padding makes symmetric), ``torch.stft``'s angle is its FFT's
  rounding, and the export path puts a canonical angle instead (``stable_phase``). Those bins feed
  the generator like any other, so end to end the two paths differ there by much more than
  rounding. Their audio is compared sample by sample only with a silent source, where no bin is
  left to rounding (~1e-6).
"""

from __future__ import annotations

import math

import pytest
import torch

from sesli.models.kokoro.loading import build_debug


@pytest.fixture(scope="module")
def generator():
    return build_debug().model.decoder.generator


def _inputs(generator, frames: int = 40):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1, generator.ups[0].in_channels, frames, generator=gen)
    s = torch.randn(1, 16, generator=gen)
    f0 = torch.linspace(110.0, 240.0, frames)[None]  # voiced throughout: a source with content
    return x, s, f0


@torch.no_grad()
def test_same_spectrum_gives_the_same_audio(generator):
    x, s, f0 = _inputs(generator)
    src = generator.m_source(f0, noise=False)  # (1, N)
    har = generator._stft(src[0])[None]  # what forward builds per item
    ref = generator(x, s, f0, noise=False)
    out = generator.spectrum_to_audio(x, s, har)
    assert out.shape == ref.shape == (1, 40 * math.prod(generator.upsample_rates) * generator.hop)
    assert (out - ref).abs().max() <= 2e-6 * ref.abs().max()


@torch.no_grad()
def test_source_spectrum_matches_torch_stft(generator):
    _, _, f0 = _inputs(generator)
    ref = generator._stft(generator.m_source(f0, noise=False)[0])  # (n_fft + 2, F)
    out = generator.source_spectrum(f0)[0]
    half = generator.n_fft // 2 + 1
    assert out.shape == ref.shape
    assert (out[:half] - ref[:half]).abs().max() < 1e-5
    # compare angles where they mean something: a real bin, off the cut, past the symmetric frame
    mag = ref[:half, 1:]
    spec = mag * torch.exp(1j * ref[half:, 1:])
    defined = (mag > 1e-3) & (spec.imag.abs() > 1e-4 * mag)
    d = (out[half:, 1:] - ref[half:, 1:]).abs()
    d = torch.minimum(d, 2 * math.pi - d)
    assert defined.float().mean() > 0.3  # the sines are low-pass: high bins hold leakage only
    assert d[defined].max() < 1e-3


@torch.no_grad()
def test_export_mode_routes_forward(generator):
    x, s, f0 = _inputs(generator, frames=12)
    generator.export_mode = True
    try:
        routed = generator(x, s, f0, noise=False)
        with pytest.raises(ValueError, match="noise=False"):
            generator(x, s, f0, noise=True)
        with pytest.raises(ValueError, match="lengths"):
            generator(x, s, f0, torch.tensor([12]), noise=False)
    finally:
        generator.export_mode = False
    assert torch.equal(routed, generator.forward_export(x, s, f0))
    assert "export_mode" not in str(list(generator.state_dict()))


@torch.no_grad()
def test_export_path_keeps_durations_and_shapes():
    loaded = build_debug()
    model = loaded.model
    ids = torch.tensor([[0, *range(40, 70), 0]])
    style = loaded.voices["debug"][29]
    ref = model.infer(ids, style, noise=False)
    model.decoder.generator.export_mode = True
    out = model.infer(ids, style, noise=False)
    assert torch.equal(out.durations, ref.durations)
    assert out.audio.shape == ref.audio.shape
    assert torch.isfinite(out.audio).all()


@torch.no_grad()
def test_export_path_equals_current_path_with_a_silent_source():
    """With the source's output layer zeroed the source is exactly 0, its spectrum exactly 0 in both
    paths (magnitude 0, angle 0), so nothing is left to rounding: measured max diff 2.4e-7 (30
    tokens) to 1.4e-6 (80 tokens) at audio peaks of 0.7-14."""
    loaded = build_debug()
    model = loaded.model
    model.decoder.generator.m_source.l_linear.weight.zero_()
    model.decoder.generator.m_source.l_linear.bias.zero_()
    ids = torch.tensor([[0, *range(40, 70), 0]])
    style = loaded.voices["debug"][29]
    ref = model.infer(ids, style, noise=False)
    model.decoder.generator.export_mode = True
    out = model.infer(ids, style, noise=False)
    assert torch.equal(out.durations, ref.durations)
    assert (out.audio - ref.audio).abs().max() <= 1e-5 * ref.audio.abs().max()
