"""G2P accuracy against the Montreal Forced Aligner's Turkish dictionary (data/turkish_mfa.dict).

    .venv/bin/python bench/g2p_accuracy.py [--dict data/turkish_mfa.dict] [--examples 8]

Each headword is read alone (``G2P().word``: word mode, no sentence normalisation). A word is
right when it equals any of the dictionary's pronunciations. Reported twice:

* strict: our output with the stress mark removed (MFA has no stress), against MFA mapped onto
  our inventory. The mapping folds only what our contract does not write, in both modes:
  dental diacritics (d̪ t̪ n̪ s̪ z̪ -> d t n s z); dʒ tʃ -> ʤ ʧ (same sounds, our ligatures);
  ɫ and ʎ -> l (the contract has one l: the Kokoro vocabulary has no dark l); ɛ ɪ ʊ ʏ ɨ -> e i u y ɯ
  (lax allophones of the same vowels); ç -> h (the allophone of h before front vowels); ɲ -> ŋ
  before c/ɟ (the contract's "n before palatal k, g is ŋ"), else n; a geminate consonant
  ``Cː`` -> ``C C`` (we write double letters double). Vowel length ``Vː`` and the palatal c ɟ
  and ŋ are kept: they are our contract.
* folded: also c -> k, ɟ -> ɡ, ŋ -> n and vowel length removed.

Phoneme error rate: edit distance over phoneme tokens to the closest pronunciation, summed, over
the summed length of those pronunciations. Entries whose headword starts with an apostrophe or is
a special token (``<unk>``, ``[laughter]``), or whose pronunciation holds ``spn``, are skipped.
Writes bench/results/g2p_accuracy.json and prints the disagreements by category.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections import defaultdict
from pathlib import Path

from sesli.fileio import write_json
from sesli.text.g2p import G2P

ROOT = Path(__file__).resolve().parents[1]
WORD_RE = re.compile(r"[a-zçğıöşüâîûqwx]+(?:'[a-zçğıöşüâîûqwx]+)?")
MFA_MAP = {
    "d̪": "d", "t̪": "t", "n̪": "n", "s̪": "s", "z̪": "z", "dʒ": "ʤ", "tʃ": "ʧ", "ɫ": "l", "ʎ": "l",
    "ɛ": "e", "ɪ": "i", "ʊ": "u", "ʏ": "y", "ɨ": "ɯ", "ç": "h",
}  # fmt: skip
VOWELS = set("aeɯioøuy")
FOLD = {"c": "k", "ɟ": "ɡ", "ŋ": "n"}


def mfa_tokens(pron: str) -> list[str]:
    """MFA phones -> our tokens (a vowel with its length is one token)."""
    phones = pron.split()
    out: list[str] = []
    for k, p in enumerate(phones):
        long = p.endswith("ː")
        base = p[:-1] if long else p
        base = MFA_MAP.get(base, base)
        if base == "ɲ":
            nxt = phones[k + 1] if k + 1 < len(phones) else ""
            base = "ŋ" if nxt.rstrip("ː") in ("c", "ɟ") else "n"
        if long and base not in VOWELS:
            out += [base, base]  # geminate
        else:
            out.append(base + "ː" if long else base)
    return out


def our_tokens(phonemes: str) -> list[str]:
    out: list[str] = []
    for ch in phonemes.replace("ˈ", ""):
        if ch == "ː" and out:
            out[-1] += ch
        else:
            out.append(ch)
    return out


def fold(tokens: list[str]) -> list[str]:
    return [FOLD.get(t, t).rstrip("ː") for t in tokens]


def edit_distance(a: list[str], b: list[str]) -> int:
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def read_dict(path: Path) -> tuple[dict[str, list[list[str]]], int]:
    """headword -> list of pronunciations (our tokens); also the number of skipped lines."""
    entries: dict[str, list[list[str]]] = defaultdict(list)
    skipped = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        word, _, pron = line.partition("\t")
        if not pron or not WORD_RE.fullmatch(word) or "spn" in pron.split():
            skipped += 1
            continue
        entries[word].append(mfa_tokens(pron))
    return dict(entries), skipped


def categorise(word: str, ours: list[str], ref: list[str]) -> str:
    """A rough reason for a disagreement, for the lead to explain the figures."""
    if fold(ours) == fold(ref):
        if [t.rstrip("ː") for t in ours] == [t.rstrip("ː") for t in ref]:
            return "vowel length"
        return "palatal c ɟ / ŋ"
    if not any(ch in "aeıioöuüâîû" for ch in word.split("'")[0]):
        return "letter names (no vowel)"
    o, r = "".join(fold(ours)), "".join(fold(ref))
    if re.search(r"l[ae]ɾd", r) and not re.search(r"l[ae]ɾd", o):
        return "MFA reads -lAr(I)- as -lArd- (dictionary error)"
    if len(r) == len(o) + 1 and any(r[:i] + r[i + 1 :] == o for i in range(len(r)) if r[i] in VOWELS):
        return "MFA inserts a vowel (dictionary error)"
    if len(r) + 1 == len(o) and any(o[:i] + o[i + 1 :] == r for i in range(len(o))):
        return "MFA drops a sound (degemination, elision)"
    if any(ch in word for ch in "qwx") or re.search(
        r"th|sh|ch|ph|oo|ee|ou|ea|ck|y$|^[^aeıioöuüâîû]{2}", word
    ):
        return "foreign word"
    if "ğ" in word:
        return "ğ (between front vowels we write j)"
    if any(ch in word for ch in "âîû"):
        return "circumflex"
    if word[-1] in "bdc" and ours and ours[-1] in ("p", "t", "ʧ") and ref and ref[-1] in ("b", "d", "ʤ"):
        return "final devoicing (MFA keeps the spelling)"
    if re.search(r"(aa|ee|ıı|ii|oo|öö|uu|üü)", word):
        return "double vowel"
    return "other"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dict", type=Path, default=ROOT / "data" / "turkish_mfa.dict")
    ap.add_argument("--examples", type=int, default=8)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "g2p_accuracy.json")
    args = ap.parse_args(argv)
    if not args.dict.exists():
        print(f"no dictionary at {args.dict}", file=sys.stderr)
        return 1
    entries, skipped = read_dict(args.dict)
    g2p = G2P()
    t0 = time.perf_counter()
    stats = {m: {"right": 0, "dist": 0, "ref_len": 0} for m in ("strict", "folded")}
    cats: dict[str, dict[str, list]] = {"strict": defaultdict(list), "folded": defaultdict(list)}
    for word, prons in entries.items():
        ours = our_tokens(g2p.word(word))
        for mode, f in (("strict", lambda t: t), ("folded", fold)):
            o = f(ours)
            best = min(prons, key=lambda p, o=o, f=f: (edit_distance(o, f(p)), len(p)))
            d = edit_distance(o, f(best))
            s = stats[mode]
            s["right"] += d == 0
            s["dist"] += d
            s["ref_len"] += len(best)
            if d:
                cats[mode][categorise(word, ours, best)].append((word, "".join(ours), "".join(best)))
    secs = time.perf_counter() - t0
    n = len(entries)
    result = {
        "dictionary": str(args.dict.relative_to(ROOT)) if args.dict.is_relative_to(ROOT) else str(args.dict)
    }
    result.update(words=n, skipped_lines=skipped, seconds=round(secs, 2))
    print(f"{n} headwords ({skipped} lines skipped), {secs:.1f} s\n")
    print(f"{'mode':8} {'word acc':>9} {'PER':>7} {'wrong':>7}")
    for mode, s in stats.items():
        acc, per = s["right"] / n, s["dist"] / max(s["ref_len"], 1)
        print(f"{mode:8} {acc:9.2%} {per:7.2%} {n - s['right']:7d}")
        result[mode] = {
            "word_accuracy": round(acc, 4),
            "phoneme_error_rate": round(per, 4),
            "wrong": n - s["right"],
            "categories": {c: len(v) for c, v in sorted(cats[mode].items(), key=lambda kv: -len(kv[1]))},
            "examples": {c: v[: args.examples] for c, v in cats[mode].items()},
        }
    for mode in ("folded", "strict"):
        print(f"\ndisagreements ({mode}) by category: word  ours  MFA")
        for cat, items in sorted(cats[mode].items(), key=lambda kv: -len(kv[1])):
            print(f"  {cat}: {len(items)}")
            for word, o, r in items[: args.examples]:
                print(f"      {word:20} {o:22} {r}")
    write_json(args.out, result)
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
