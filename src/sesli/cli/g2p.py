"""``sesli g2p``: Turkish text to phonemes, letters or symbol ids.

Examples::

    sesli g2p "Ankara'dan geliyorum."          # ˈaŋkaɾadan ɟelˈijoɾum.
    sesli g2p --ids kokoro "merhaba"           # space-separated Kokoro ids
    sesli g2p --json < sentences.txt           # one JSON object per input line
    sesli g2p --chars "Saat 5'te"              # normalised letters, no G2P

Without text arguments the lines of stdin are read, one output line per input line. Characters
that cannot be read are reported on stderr (and in ``--json`` output); they never vanish silently.
"""

from __future__ import annotations

import argparse
import json
import sys


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sesli g2p", description="Turkish text to phonemes (or symbol ids).")
    p.add_argument("text", nargs="*", help="text to read (all arguments form one line); stdin if none")
    p.add_argument("--ids", choices=["kokoro", "sesli", "chars"], help="print symbol ids of this table")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--lexicon", metavar="FILE", help="user lexicon (word<TAB>stress|sezer|phonemes)")
    p.add_argument("--chars", action="store_true", help="character mode: normalised letters, no G2P")
    # --ids chars implies --chars.
    return p


def main(argv: list[str] | None = None) -> int:
    """Run ``sesli g2p``; returns 0, or 2 on a bad lexicon or option."""
    args = _parser().parse_args(argv)
    from sesli.text.g2p import G2P
    from sesli.text.lexicon import LexiconError
    from sesli.text.symbols import get_table

    try:
        g2p = G2P(args.lexicon)
    except LexiconError as err:
        print(f"sesli g2p: {err}", file=sys.stderr)
        return 2
    if args.chars and args.ids in ("kokoro", "sesli"):
        print(
            f"sesli g2p: --ids {args.ids} needs phonemes; --chars gives letters (use --ids chars)",
            file=sys.stderr,
        )
        return 2
    mode = "chars" if args.chars or args.ids == "chars" else "phonemes"
    table = get_table(args.ids) if args.ids else None
    lines = [" ".join(args.text)] if args.text else (line.rstrip("\r\n") for line in sys.stdin)
    for lineno, line in enumerate(lines, start=1):
        result = g2p.phonemize(line, mode=mode)
        ids = None
        skipped: list[str] = []
        if table is not None:
            enc = table.encode(result.phonemes, errors="report")
            ids, skipped = enc.ids, enc.skipped
        unknown = list(dict.fromkeys(result.unknown + skipped))
        if unknown:
            shown = ", ".join(f"{ch!r} (U+{ord(ch):04X})" for ch in unknown)
            where = f"line {lineno}" if not args.text else "input"
            print(f"sesli g2p: {where}: could not read {shown}", file=sys.stderr)
        if args.json:
            obj = {"text": line, "normalized": result.normalized, "phonemes": result.phonemes}
            if ids is not None:
                obj["ids"] = ids
            obj["unknown"] = unknown
            print(json.dumps(obj, ensure_ascii=False))
        elif ids is not None:
            print(" ".join(map(str, ids)))
        else:
            print(result.phonemes)
        sys.stdout.flush()
    return 0
