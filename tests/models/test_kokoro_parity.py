"""Parity with upstream ``kokoro`` 0.9.4 (a client no one here wrote), full size, random weights.

Fairness: upstream's sine source draws random numbers (overtone phases, then noise) from the
global RNG. sesli draws the same numbers in the same order and layout, so seeding both with the
same seed before each call compares the real inference path, noise included. The duration head's
bias is set to -3 before saving (about 3 frames per token) so a random model speaks 10 tokens in
a fraction of a second instead of 12 seconds; the weights stay random and identical on both sides.
"""

import pytest
import torch

from sesli.models.kokoro import KokoroModel, official_config
from sesli.models.kokoro.loading import from_pretrained, official_state_dict
from sesli.testing.upstream_kokoro import UpstreamKokoroMissing, import_upstream_kmodel

try:
    KModel = import_upstream_kmodel()
except UpstreamKokoroMissing as err:  # pragma: no cover
    pytest.skip(str(err), allow_module_level=True)

pytestmark = pytest.mark.slow


SUBMODULES = ("bert", "bert_encoder", "predictor", "text_encoder", "decoder")
SEED, SPEED = 1234, 1.3


def _upstream(config: dict, weights) -> torch.nn.Module:
    return KModel(repo_id="hexgrad/Kokoro-82M", config=config, model=str(weights)).eval()


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """Upstream with random weights, saved in the official format, loaded into sesli."""
    torch.set_num_threads(2)
    tmp = tmp_path_factory.mktemp("parity")
    torch.save({}, tmp / "empty.pth")  # upstream always loads a file; an empty one keeps its init
    torch.manual_seed(0)
    up = _upstream(official_config().to_dict(), tmp / "empty.pth")
    with torch.no_grad():
        up.predictor.duration_proj.linear_layer.bias.fill_(-3.0)
    # the official layout: one state dict per submodule, keys with DataParallel's "module." prefix
    ckpt = {k: {f"module.{n}": t for n, t in getattr(up, k).state_dict().items()} for k in SUBMODULES}
    torch.save(ckpt, tmp / "kokoro-v1_0.pth")
    ours = from_pretrained(tmp / "kokoro-v1_0.pth").model
    g = torch.Generator().manual_seed(7)
    ids = torch.randint(1, 178, (1, 10), generator=g)
    ids[0, 0] = ids[0, -1] = 0
    ref = torch.randn(1, 256, generator=g)
    torch.manual_seed(SEED)
    with torch.no_grad():
        out = ours.infer(ids, ref, SPEED)
    return up, ours, ids, ref, out


def _check(up, ids, ref, out) -> None:
    torch.manual_seed(SEED)  # same seed: upstream's source noise == sesli's (same draws, same order)
    up_audio, up_dur = up.forward_with_tokens(ids, ref, SPEED)
    assert torch.equal(out.durations[0], up_dur)
    assert out.audio.shape[1] == up_audio.shape[-1]
    diff = (out.audio[0] - up_audio).abs().max().item()
    assert diff < 1e-4, diff
    assert up_audio.abs().max() > 1e-3  # not trivially silent


def test_upstream_weights_load_into_sesli_and_match(pair):
    up, _, ids, ref, out = pair
    _check(up, ids, ref, out)


def test_sesli_weights_load_into_upstream_and_match(pair, tmp_path):
    _, ours, ids, ref, out = pair
    torch.save(official_state_dict(ours), tmp_path / "sesli.pth")
    up = _upstream(ours.config.to_dict(), tmp_path / "sesli.pth")
    up_state, own = up.state_dict(), ours.state_dict()
    assert set(up_state) == set(own)
    assert all(torch.equal(up_state[k], own[k]) for k in own)  # upstream loaded every tensor
    _check(up, ids, ref, out)


def test_fresh_sesli_model_has_upstream_names_and_shapes(pair):
    up, *_ = pair
    ours = KokoroModel(official_config())
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: v.shape for k, v in up.state_dict().items()
    }
