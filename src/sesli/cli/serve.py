"""``sesli serve``: an OpenAI-compatible speech API, a web page, and optionally a Wyoming server.

sesli serve                                   # the real Kokoro-82M weights on http://127.0.0.1:8880
sesli serve --model runs/vits --port 8000     # a VITS voice (sesli run or Piper .onnx)
sesli serve --wyoming tcp://127.0.0.1:10200   # also a Wyoming server for Home Assistant
sesli serve --browser                         # also the model running in the browser at /browser/
SESLI_API_KEY=secret sesli serve --host 0.0.0.0 --cors-origin https://app.example

Then: ``curl -s localhost:8880/v1/audio/speech -H 'content-type: application/json'
-d '{"input": "Merhaba!", "response_format": "wav"}' -o merhaba.wav``, or the ``openai`` client
with ``base_url="http://127.0.0.1:8880/v1"``, or the page at http://127.0.0.1:8880/.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import os
import sys
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sesli serve", description=__doc__.split("\n")[0].split(": ", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument(
        "--model", default=None, help="a model sesli.load takes (default: Kokoro-82M, real weights)"
    )
    p.add_argument("--family", choices=["kokoro", "vits"], default=None, help="force the model family")
    p.add_argument("--name", default=None, help="model id clients see (default: sesli-<family>)")
    p.add_argument("--voices", default=None, help="extra Kokoro voices (.npz/.bin/.pt) to offer by name")
    p.add_argument("--device", default=None, help="torch device (default: cpu)")
    p.add_argument("--backend", choices=["torch", "onnx"], default="torch",
                   help="Kokoro: onnx runs an ONNX export with onnxruntime (exported once if needed)")  # fmt: skip
    p.add_argument(
        "--onnx-dtype",
        choices=["int8", "fp32", "fp16"],
        default="int8",
        help="weights of that export (default int8: 1.12x fp32's speed, CER within a point)",
    )
    p.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)"
    )
    p.add_argument("--port", type=int, default=8880)
    p.add_argument(
        "--wyoming", default=None, metavar="URI", help="also serve Wyoming, e.g. tcp://127.0.0.1:10200"
    )
    p.add_argument("--api-key", default=os.environ.get("SESLI_API_KEY"),
                   help="require 'Authorization: Bearer KEY' on /v1 (default: $SESLI_API_KEY)")  # fmt: skip
    p.add_argument(
        "--cors-origin", action="append", default=[], help="allow this browser origin (repeatable)"
    )
    p.add_argument("--max-input", type=int, default=4096, help="longest input in characters")
    p.add_argument("--max-active", type=int, default=8, help="requests rendered at once")
    p.add_argument("--max-queued", type=int, default=32, help="requests waiting; more get 429")
    p.add_argument(
        "--batch-size", type=int, default=None, help="chunks per model call (default 1 CPU, 8 GPU)"
    )
    p.add_argument("--first-words", type=int, default=None, help="most words in the first chunk")
    p.add_argument("--browser", nargs="?", const="auto", default=None, metavar="DIR",
                   help="serve the in-browser page at /browser/: an export made with `sesli kokoro export "
                        "--web`, or, alone, the model exported (--onnx-dtype) into the cache")  # fmt: skip
    return p


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build(args: argparse.Namespace):
    """The app and its service from parsed arguments."""
    from sesli.serve.app import ServeConfig, create_app
    from sesli.serve.service import FIRST_WORDS, ServiceConfig, SpeechService

    load_options = {"voices": args.voices} if args.voices else {}
    model = args.model
    if args.backend == "onnx":  # exported once, here, before the server starts
        from sesli.export.kokoro import onnx_source

        model, notes = onnx_source(model, dtype=args.onnx_dtype, **load_options)
        for note in notes:
            print(f"sesli serve: {note}", file=sys.stderr)
        load_options = {"backend": "onnx"}
    service = SpeechService(
        ServiceConfig(
            model=model, family=args.family, name=args.name, device=args.device,
            max_active=args.max_active, max_queued=args.max_queued, batch_size=args.batch_size,
            first_words=FIRST_WORDS if args.first_words is None else args.first_words,
            load_options=load_options,
        )
    )  # fmt: skip
    config = ServeConfig(
        api_key=args.api_key, cors_origins=tuple(args.cors_origin), max_input_chars=args.max_input,
        browser_dir=_browser_dir(args),
    )
    return create_app(service, config), service


def _browser_dir(args: argparse.Namespace) -> Path | None:
    if args.browser is None:
        return None
    from sesli.serve.browser import build_site, is_site

    if args.browser != "auto":
        return Path(args.browser)
    from sesli.export.kokoro import cached_export

    graph, notes = cached_export(args.model, dtype=args.onnx_dtype)
    for note in notes:
        print(f"sesli serve: browser page: {note}", file=sys.stderr)
    if not is_site(graph.parent):
        build_site(graph.parent)
    return graph.parent


async def _run(app, service, args: argparse.Namespace) -> None:
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host=args.host, port=args.port, log_level="info"))
    tasks = [asyncio.create_task(server.serve())]
    if args.wyoming:
        from sesli.serve.wyoming import run_wyoming

        tasks.append(asyncio.create_task(run_wyoming(service, args.wyoming)))
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    for task in done:
        task.result()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not _is_loopback(args.host) and not args.api_key:
        print(f"sesli serve: warning: {args.host} is reachable from other machines and no --api-key is set",
              file=sys.stderr)  # fmt: skip
    app, service = build(args)
    print(f"sesli serve: http://{args.host}:{args.port}/ (model loading in the background; /ready says when)",
          file=sys.stderr)  # fmt: skip
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(app, service, args))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
