"""One speech service behind every front door (HTTP, Wyoming): load, warm up, plan, schedule.

The model loads on a background thread, so a server answers ``/health`` (and Wyoming's
``describe``) at once; :attr:`SpeechService.ready` turns true after a warm-up synthesis. Requests
are planned (validated, G2P done) with :meth:`SpeechService.plan` and rendered by the
:class:`~sesli.serve.scheduler.Scheduler`'s worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sesli.inference.base import SynthesisError
from sesli.inference.plan import FIRST_PHONEMES, FIRST_WORDS, Piece, Plan, PlanChunk, make_piece, plan_speech
from sesli.serve.scheduler import Job, Scheduler
from sesli.serve.voices import VoiceBook

WARM_UP_TEXT = "Merhaba, hoş geldiniz."


class NotReady(RuntimeError):
    """The model is still loading (or failed to load: ``error`` says why)."""

    def __init__(self, message: str, error: str | None = None) -> None:
        super().__init__(message)
        self.error = error


@dataclass
class ServiceConfig:
    """What to serve and how hard to work.

    Attributes:
        model: anything :func:`sesli.load` takes (None: the default Kokoro base, real weights).
        family: force a model family (None: detect).
        name: the model id clients see in ``/v1/models`` (None: ``sesli-<family>``).
        device: torch device (None: CPU).
        max_active: requests rendered at once (their chunks interleave).
        max_queued: requests waiting beyond those; more are refused (429).
        batch_size: chunks rendered per call (None: 1 on CPU, 8 on a GPU: micro-batching).
        batch_window: seconds the worker waits to fill a batch (GPU only).
        first_words: most words in a response's first chunk (0: the whole first sentence).
        first_phonemes: most phoneme symbols in it (0: no cap): its render time is the first audio.
        stall_timeout: seconds a client may leave its stream unread before it is cancelled.
        load_options: more keyword arguments for :func:`sesli.load` (``voices``, ``noise``, ...).
    """

    model: Any = None
    family: str | None = None
    name: str | None = None
    device: str | None = None
    max_active: int = 8
    max_queued: int = 32
    batch_size: int | None = None
    batch_window: float = 0.005
    first_words: int = FIRST_WORDS
    first_phonemes: int = FIRST_PHONEMES
    stall_timeout: float = 60.0
    load_options: dict[str, Any] = field(default_factory=dict)


class SpeechService:
    """A loaded synthesizer, its voices and its scheduler.

    Args:
        config: see :class:`ServiceConfig`.
        speaker: an already loaded synthesizer (tests, embedding); skips loading.
    """

    def __init__(self, config: ServiceConfig | None = None, *, speaker: Any = None) -> None:
        self.config = config or ServiceConfig()
        self.speaker = speaker
        self.voices: VoiceBook | None = None
        self.error: str | None = None
        self.load_seconds: float | None = None
        self._ready = threading.Event()
        self._started = False
        self.scheduler: Scheduler | None = None
        if speaker is not None or self.config.family:
            self._family = speaker.family if speaker is not None else self.config.family
        else:  # read here, not on the event loop: detection imports the model code
            from sesli.inference.registry import family_of

            self._family = family_of(self.config.model)
        self._planner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sesli-plan")

    # ---- life cycle -----------------------------------------------------------------------------
    def start(self) -> None:
        """Load (if needed) and warm up on a background thread; returns at once."""
        if not self._started:
            self._started = True
            threading.Thread(target=self._load, name="sesli-load", daemon=True).start()

    def _load(self) -> None:
        t0 = time.perf_counter()
        try:
            if self.speaker is None:
                from sesli.inference.registry import load_speaker

                options = {"device": self.config.device, **self.config.load_options}
                self.speaker = load_speaker(self.config.model, family=self.config.family, **options)
            self.voices = VoiceBook(self.speaker)
            batch = self.config.batch_size
            if batch is None:
                batch = 1 if str(getattr(self.speaker, "device", "cpu")).startswith("cpu") else 8
            if hasattr(self.speaker, "batch_size"):
                self.speaker.batch_size = batch
            self.scheduler = Scheduler(
                self._render,
                max_active=self.config.max_active,
                max_queued=self.config.max_queued,
                batch_size=batch,
                batch_window=self.config.batch_window,
                stall_timeout=self.config.stall_timeout,
            )
            plan = self.plan(WARM_UP_TEXT)
            self._render([(plan, chunk) for chunk in plan.chunks])
        except Exception as err:  # noqa: BLE001 - reported by /ready and every request
            self.error = f"{type(err).__name__}: {err}"
            return
        self.load_seconds = time.perf_counter() - t0
        self._ready.set()

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until warm (True) or ``timeout`` (False); raises :class:`NotReady` if loading failed."""
        self.start()
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._ready.wait(0.05):
            if self.error:
                raise NotReady(f"the model failed to load: {self.error}", self.error)
            if deadline is not None and time.monotonic() > deadline:
                return False
        return True

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def close(self) -> None:
        self._planner.shutdown(wait=False, cancel_futures=True)
        if self.scheduler is not None:
            self.scheduler.close()

    # ---- what is served -------------------------------------------------------------------------
    def require_ready(self, *, loaded: bool = False) -> None:
        """Raise :class:`NotReady` unless warm (``loaded``: unless loaded, warm-up or not)."""
        if self.error:
            raise NotReady(f"the model failed to load: {self.error}", self.error)
        if self.voices is None or self.scheduler is None or not (loaded or self.ready):
            raise NotReady("the model is still loading")

    @property
    def family(self) -> str:
        if self.speaker is not None:
            return self.speaker.family
        return self._family

    @property
    def model_id(self) -> str:
        return self.config.name or f"sesli-{self.family}"

    @property
    def sample_rate(self) -> int:
        self.require_ready(loaded=True)
        return int(self.speaker.sample_rate)

    def voice_names(self) -> list[str]:
        self.require_ready(loaded=True)
        return list(self.voices.names)

    def check_voice(self, voice: Any) -> None:
        """Raise :class:`SynthesisError` for a voice (name, ``{"id"}`` or mix) this model lacks."""
        self.require_ready(loaded=True)
        self.voices.resolve(voice)

    @property
    def default_voice(self) -> str | None:
        return self.voices.default if self.voices else None

    # ---- work -----------------------------------------------------------------------------------
    def plan(self, text: str, voice: Any = None, speed: float = 1.0, **options: Any) -> Plan:
        """Validate and plan a request (CPU work: call it off the event loop for long texts).

        Raises:
            NotReady: still loading. SynthesisError: bad text, voice, speed or option.
        """
        self.require_ready(loaded=True)
        resolved = self.voices.resolve(voice)
        options = {k: v for k, v in options.items() if v is not None}
        return plan_speech(
            self.speaker,
            text,
            resolved,
            speed,
            first_words=self.config.first_words,
            first_phonemes=self.config.first_phonemes,
            **options,
        )

    async def plan_async(self, text: str, voice: Any = None, speed: float = 1.0, **options: Any) -> Plan:
        """:meth:`plan` on the service's one planning thread: G2P holds the GIL, and one thread
        (not a pool of them) leaves the event loop its share of it during a burst."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._planner, functools.partial(self.plan, text, voice, speed, **options)
        )

    def submit(self, plan: Plan, *, reserved: bool = False) -> Job:
        """Queue a plan for rendering (on the event loop); raises ``QueueFull`` past the bounds."""
        self.require_ready(loaded=True)
        return self.scheduler.submit(plan, reserved=reserved)

    def _render(self, work: list[tuple[Plan, PlanChunk]]) -> list[Piece]:
        rendered = self.speaker.render([plan.item(chunk) for plan, chunk in work])
        rate = int(self.speaker.sample_rate)
        return [
            make_piece(chunk, r, rate, chunk.index == len(plan.chunks) - 1)
            for (plan, chunk), r in zip(work, rendered, strict=True)
        ]


__all__ = ["FIRST_WORDS", "NotReady", "ServiceConfig", "SpeechService", "SynthesisError", "WARM_UP_TEXT"]
