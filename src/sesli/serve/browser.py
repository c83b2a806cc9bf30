"""The in-browser page: an exported Turkish Kokoro run by onnxruntime-web, with sesli's G2P as a lexicon.

:func:`build_site` turns a Kokoro export folder (``sesli kokoro export``: ``kokoro-tr-<dtype>.onnx``,
``config.json``, ``<voice>.bin``) into a static site in the same folder, so the graph is not
copied: the page (``static/browser/``), onnxruntime-web (``ort/``, :mod:`sesli.serve.webruntime`),
``lexicon.json`` and ``site.json``. Any static server hosts it; ``sesli serve --browser DIR`` mounts
it at ``/browser/`` with the cross-origin isolation headers that let onnxruntime-web use threads.

**The G2P in the browser is precomputed, not ported.** sesli's G2P (normaliser, lexicons, suffix
stress) stays in Python; ``lexicon.json`` holds its reading of every word in a word list (default:
the 23,109 distinct words of Common Voice's CC0 Turkish sentences, ``text/lexicons/words.txt``),
the shipped lexicons' words and their two-word phrases. A word outside it is read by ``g2p.js``'s
port of the letter rules (:func:`sesli.text.g2p.segments`: palatal k/g, ğ, ŋ, final devoicing,
long vowels) with stress on the last syllable; on held-out Common Voice words those rules give
sesli's phonemes for 99.7 % of words and its stress for 86.6 %. Digits and abbreviations need the
normaliser, which is not in the page: it lists them as unread, as the Python G2P lists what it
cannot read.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

from sesli.fileio import atomic_path, write_json
from sesli.serve.webruntime import ORT_WEB_FILES, ORT_WEB_VERSION, ort_web_dir
from sesli.text.g2p import G2P, LETTER_NAMES
from sesli.text.lexicon import lower_tr

PAGE_FILES = ("index.html", "browser.js", "g2p.js", "browser.css")
GRAPH = re.compile(r"kokoro-tr-(fp32|fp16|int8)\.onnx")
PREFERRED = ("int8", "fp16", "fp32")  # the smallest download first
_WORD = re.compile(r"[a-zçğıöşüâîû]+(?:'[a-zçğıöşüâîû]+)*")


class SiteError(ValueError):
    """A folder that is not a Kokoro export, or a page that cannot be built (the message says why)."""


def default_words() -> list[str]:
    """The shipped word list (most frequent first)."""
    text = (resources.files("sesli.text") / "lexicons" / "words.txt").read_text(encoding="utf-8")
    return [w for w in text.splitlines() if w]


def words_of(lines: Iterable[str]) -> list[str]:
    """The distinct words of some text, as the G2P reads them (Turkish lower case, apostrophes kept)."""
    seen: dict[str, None] = {}
    for line in lines:
        for word in _WORD.findall(lower_tr(line).replace("’", "'")):
            seen[word] = None
    return list(seen)


def lexicon_for(words: Iterable[str], g2p: G2P | None = None) -> dict[str, Any]:
    """``lexicon.json``: each word's phonemes as sesli's G2P reads it alone, plus the shipped
    lexicons' words and phrases (which the G2P reads together)."""
    g2p = g2p or G2P()
    entries: dict[str, str] = {}
    for word in (*g2p.lexicon.words, *words):
        if word not in entries:
            phon = g2p.word(word)
            if phon:
                entries[word] = phon
    phrases = {f"{a} {b}": phon for (a, b), phon in g2p.lexicon.phrases.items()}
    return {"version": 1, "words": entries, "phrases": phrases, "letter_names": LETTER_NAMES}


def _graphs(folder: Path) -> dict[str, str]:
    found = {m.group(1): p.name for p in folder.iterdir() if (m := GRAPH.fullmatch(p.name))}
    return {d: found[d] for d in PREFERRED if d in found}


def build_site(export_dir: str | Path, *, words: Iterable[str] | None = None, fetch: bool = True) -> Path:
    """Write the browser page into a Kokoro export folder; returns the folder.

    Args:
        export_dir: the output of ``sesli kokoro export`` (one or more dtypes).
        words: the words to precompute (None: :func:`default_words`).
        fetch: download onnxruntime-web when it is not cached (:func:`~sesli.serve.webruntime.ort_web_dir`).

    Raises:
        SiteError: the folder has no ``config.json`` or no ``kokoro-tr-*.onnx``, or no voice files.
        WebRuntimeError: onnxruntime-web is neither cached nor downloadable.
    """
    folder = Path(export_dir)
    if not (folder / "config.json").is_file():
        raise SiteError(f"{folder} is not a Kokoro export (no config.json): run `sesli kokoro export` first")
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    graphs = _graphs(folder)
    if not graphs:
        raise SiteError(f"{folder} has no kokoro-tr-<fp32|fp16|int8>.onnx")
    voices = [v for v in config.get("voices", []) if (folder / f"{v}.bin").is_file()]
    if not voices:
        raise SiteError(f"{folder} has no <voice>.bin file for the voices {config.get('voices')}")
    runtime = ort_web_dir(fetch=fetch)
    (folder / "ort").mkdir(exist_ok=True)
    for name in ORT_WEB_FILES:
        with atomic_path(folder / "ort" / name) as tmp:
            shutil.copyfile(runtime / name, tmp)
    page = resources.files("sesli.serve") / "static" / "browser"
    for name in PAGE_FILES:
        with atomic_path(folder / name) as tmp:
            tmp.write_bytes(page.joinpath(name).read_bytes())
    write_json(folder / "lexicon.json", lexicon_for(default_words() if words is None else words), indent=0)
    site = {
        "graphs": graphs,
        "voices": voices,
        "vocab": config["vocab"],
        "sample_rate": config["sample_rate"],
        "style_dim": config["style_dim"],
        "lexicon": "lexicon.json",
        "ort": {"path": "ort/", "version": ORT_WEB_VERSION},
    }
    write_json(folder / "site.json", site)
    return folder


def is_site(folder: str | Path) -> bool:
    return (Path(folder) / "site.json").is_file() and (Path(folder) / "index.html").is_file()


__all__ = ["PAGE_FILES", "SiteError", "build_site", "default_words", "is_site", "lexicon_for", "words_of"]
