"""Speed of the Turkish normaliser on realistic and pathological 1 MB inputs.

Run: ``.venv/bin/python bench/normalize_speed.py`` (prints a table, writes
bench/results/normalize_speed.json).
"""

from __future__ import annotations

import platform
import time
from pathlib import Path

from sesli.fileio import write_json
from sesli.text.normalize import normalize

SIZE = 1_000_000
NEWS = (
    "Cumhurbaşkanı, 15 Temmuz 2016'da yaşanan olayların 8. yıl dönümünde konuştu. Dolar/TL kuru "
    "32,45 seviyesinde; avro ise 35,10 TL'den işlem gördü. İstanbul'da hava 18°C, yarın %70 yağış "
    "bekleniyor. TBMM'de Prof. Dr. Ayşe Yılmaz 1.250.000 kişilik anketi sundu, saat 14:30'da. "
)


def _inputs() -> dict[str, str]:
    def fill(unit: str) -> str:
        return (unit * (SIZE // len(unit) + 1))[:SIZE]

    return {
        "news text": fill(NEWS),
        "plain words": fill("bugün hava çok güzel ve biz de parka gittik "),
        "distinct numbers": fill(" ".join(str(i) for i in range(200_000)) + " "),
        "one digit run": "7" * SIZE,
        "dotted digits": fill("1."),
        "roman ordinals": fill("XIX. "),
        "caps words": fill("ABC "),
        "emoji and scripts": fill("😀 Привет مرحبا 你好 "),
    }


def main() -> int:
    rows = []
    for name, text in _inputs().items():
        normalize(text[:10_000])  # warm caches and compiled tables
        t0 = time.perf_counter()
        out = normalize(text)
        seconds = time.perf_counter() - t0
        rows.append(
            {
                "input": name,
                "chars": len(text),
                "seconds": round(seconds, 3),
                "mb_per_s": round(len(text) / seconds / 1e6, 3),
                "out_chars": len(out),
            }
        )
    print(f"{'input':<20} {'chars':>9} {'seconds':>8} {'MB/s':>7}")
    for r in rows:
        print(f"{r['input']:<20} {r['chars']:>9} {r['seconds']:>8.3f} {r['mb_per_s']:>7.3f}")
    out_path = Path(__file__).parent / "results" / "normalize_speed.json"
    write_json(out_path, {"python": platform.python_version(), "machine": platform.machine(), "rows": rows})
    print(f"wrote {out_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
