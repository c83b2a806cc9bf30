"""``sesli normalize``: Turkish text to its spoken form.

``sesli normalize "metin"`` prints the normalised text. Without a text argument it reads stdin
and writes one output line per input line (an empty line stays an empty line; lines are never
merged or dropped), so it can stream a corpus.
"""

from __future__ import annotations

import argparse
import io
import sys


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sesli normalize",
        description="Turkish text to its spoken form (numbers, dates, abbreviations, initialisms).",
    )
    parser.add_argument(
        "text",
        nargs="*",
        help="text to normalise (several arguments are joined by spaces); omit to read stdin line by line",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``sesli normalize``; returns the exit status."""
    args = _parser().parse_args(argv)
    from sesli.text.normalize import normalize

    for stream in (sys.stdin, sys.stdout):
        if isinstance(stream, io.TextIOWrapper):  # Turkish text whatever the locale says
            stream.reconfigure(encoding="utf-8", errors="replace")
    if args.text:
        print(normalize(" ".join(args.text)))
        return 0
    out = sys.stdout
    for line in sys.stdin:
        out.write(normalize(line.rstrip("\r\n")) + "\n")
    out.flush()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
