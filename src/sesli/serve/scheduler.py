"""Synthesis off the event loop: a bounded queue, a fair chunk scheduler, backpressure and cancel.

Kokoro-FastAPI runs synthesis on the event loop, so ``/health`` stalls during a chunk and one
request runs at a time. Here one worker thread renders chunks while the loop keeps serving:

* **Bounded admission.** At most ``max_active`` requests are being rendered and ``max_queued``
  wait; a request past that gets :class:`QueueFull` (the server answers 429 with ``Retry-After``).
* **Fair, first chunks first.** The worker always picks, among active jobs, one whose *first*
  chunk is pending (oldest first), else the job with the fewest rendered chunks. So a new request
  gets its first audio after at most one chunk of someone else's, and concurrent long requests
  interleave instead of queueing behind each other.
* **Micro-batching.** With ``batch_size > 1`` (GPUs) the worker waits ``batch_window`` seconds
  for more ready chunks and renders up to ``batch_size`` of them, from different jobs, in one
  padded, masked call (the family's ``render``).
* **Backpressure.** A job holds at most ``max_ahead`` rendered pieces its client has not taken;
  past that it is skipped, so a client that never reads costs no memory and no compute, and after
  ``stall_timeout`` seconds without reading it is cancelled and its slot freed.
* **Cancel.** A client that disconnects cancels its job; its pending chunks are never rendered.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from sesli.inference.plan import Piece, Plan, PlanChunk


class QueueFull(RuntimeError):
    """Too many requests: active and queued slots are all taken."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"the server is busy; retry after {retry_after:.0f} s")
        self.retry_after = retry_after


class Job:
    """One request being rendered; iterate it (``async for``) on the event loop to get its pieces."""

    def __init__(self, plan: Plan, loop: asyncio.AbstractEventLoop, seq: int, max_ahead: int) -> None:
        self.plan = plan
        self.seq = seq
        self.loop = loop
        self.max_ahead = max_ahead
        self.next_chunk = 0  # index of the next chunk to render (worker side)
        self.in_flight = 0  # chunks being rendered now: the job holds its slot until they are done
        self.ahead = 0  # rendered pieces not yet taken by the client
        self.cancelled = False
        self.error: BaseException | None = None
        self.last_read = time.monotonic()
        self.queue: asyncio.Queue[Piece | BaseException | None] = asyncio.Queue()
        self._lock: threading.Condition | None = None  # the scheduler's; set by submit

    @property
    def pending(self) -> bool:
        return not self.cancelled and self.next_chunk < len(self.plan.chunks)

    @property
    def holds_slot(self) -> bool:
        """Still rendering or to render: counts against ``max_active``."""
        return not self.cancelled and (self.next_chunk < len(self.plan.chunks) or self.in_flight > 0)

    @property
    def runnable(self) -> bool:
        return self.pending and self.ahead < self.max_ahead

    def cancel(self) -> None:
        """Stop rendering this job (idempotent; safe from any thread)."""
        with self._lock:
            self.cancelled = True
            self._lock.notify_all()

    def deliver(self, item: Piece | BaseException | None) -> None:
        """Hand an item to the event loop (from the worker); a closed loop means nobody listens."""
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:
            self.cancelled = True

    async def __aiter__(self) -> AsyncIterator[Piece]:
        try:
            while True:
                item = await self.queue.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                with self._lock:
                    self.ahead -= 1
                    self.last_read = time.monotonic()
                    self._lock.notify_all()
                yield item
        finally:
            self.cancel()


class Scheduler:
    """The worker thread and its queue (see the module docstring).

    Args:
        render: renders ``[(plan, chunk), ...]`` to pieces in the same order (on the worker thread).
        max_active: requests rendered concurrently (their chunks interleave).
        max_queued: requests waiting for an active slot; more get :class:`QueueFull`.
        batch_size: most chunks rendered in one call.
        batch_window: seconds to wait for more chunks before a batched call (only if batch_size > 1).
        max_ahead: rendered pieces a job may hold before its client takes them.
        stall_timeout: seconds a job may hold ``max_ahead`` untaken pieces before it is cancelled.
    """

    def __init__(
        self,
        render: Callable[[list[tuple[Plan, PlanChunk]]], list[Piece]],
        *,
        max_active: int = 8,
        max_queued: int = 32,
        batch_size: int = 1,
        batch_window: float = 0.005,
        max_ahead: int = 2,
        stall_timeout: float = 60.0,
    ) -> None:
        self.render = render
        self.max_active, self.max_queued = max_active, max_queued
        self.batch_size, self.batch_window = max(1, batch_size), batch_window
        self.max_ahead, self.stall_timeout = max_ahead, stall_timeout
        self._active: list[Job] = []
        self._waiting: collections.deque[Job] = collections.deque()
        self._cond = threading.Condition()
        self._seq = itertools.count()
        self._reserved = 0
        self._closed = False
        self.chunk_seconds = 1.0  # running mean of render time per chunk, for Retry-After
        self.rendered_chunks = 0
        self._thread = threading.Thread(target=self._run, name="sesli-synthesis", daemon=True)
        self._thread.start()

    # ---- event-loop side ------------------------------------------------------------------------
    def reserve(self) -> None:
        """Hold a slot for a request that is still being planned (so a burst is refused at once,
        before any G2P); raises :class:`QueueFull`. :meth:`submit` or :meth:`release` gives it back."""
        with self._cond:
            self._reap()
            if len(self._active) + len(self._waiting) + self._reserved >= self.max_active + self.max_queued:
                raise QueueFull(self.retry_after())
            self._reserved += 1

    def release(self) -> None:
        """Give back a slot from :meth:`reserve` (the request failed validation)."""
        with self._cond:
            self._reserved = max(0, self._reserved - 1)

    def submit(self, plan: Plan, *, reserved: bool = False) -> Job:
        """Queue a plan; raises :class:`QueueFull` when every slot is taken.

        Args:
            plan: what to render.
            reserved: the caller holds a slot from :meth:`reserve` (always admitted).
        """
        job = Job(plan, asyncio.get_running_loop(), next(self._seq), self.max_ahead)
        job._lock = self._cond
        with self._cond:
            self._reap()
            if reserved:
                self._reserved = max(0, self._reserved - 1)
            elif len(self._active) + len(self._waiting) + self._reserved >= self.max_active + self.max_queued:
                raise QueueFull(self.retry_after())
            if len(self._active) < self.max_active:
                self._active.append(job)
            else:
                self._waiting.append(job)
            self._cond.notify_all()
        return job

    def retry_after(self) -> float:
        """Seconds until a slot is likely free: the work queued ahead, at the measured chunk rate."""
        with self._cond:
            jobs = [*self._active, *self._waiting]
            chunks = sum(len(j.plan.chunks) - j.next_chunk for j in jobs)
        # The slot that frees first: the active job nearest its end, but queued work is ahead too.
        return max(1.0, round(chunks * self.chunk_seconds / max(self.max_active, 1)))

    @property
    def load(self) -> dict[str, Any]:
        """Active and queued requests, for ``/health``."""
        with self._cond:
            return {"active": len(self._active), "queued": len(self._waiting), "chunks": self.rendered_chunks}

    def close(self) -> None:
        """Stop the worker; pending jobs end with an error."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout=10)

    # ---- worker side ----------------------------------------------------------------------------
    def _reap(self) -> None:
        """Drop finished and cancelled jobs, cancel stalled ones, admit waiting ones (lock held)."""
        now = time.monotonic()
        for job in self._active:
            if job.pending and job.ahead >= job.max_ahead and now - job.last_read > self.stall_timeout:
                job.cancelled = True
                job.deliver(TimeoutError("the client stopped reading"))
        self._active = [j for j in self._active if j.holds_slot]
        self._waiting = collections.deque(j for j in self._waiting if not j.cancelled)
        while self._waiting and len(self._active) < self.max_active:
            self._active.append(self._waiting.popleft())

    def _pick(self) -> list[Job]:
        """Jobs whose next chunk renders now: first chunks first, then the least served (lock held)."""
        ready = [j for j in self._active if j.runnable]
        ready.sort(key=lambda j: (j.next_chunk > 0, j.next_chunk, j.seq))
        return ready[: self.batch_size]

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._closed:
                        return
                    self._reap()
                    batch = self._pick()
                    if batch:
                        break
                    self._cond.wait(timeout=1.0)
                if self.batch_size > 1 and len(batch) < self.batch_size and self.batch_window > 0:
                    self._cond.wait(timeout=self.batch_window)
                    self._reap()
                    batch = self._pick() or batch
                work = [(job, job.next_chunk) for job in batch if job.runnable]
                for job, _ in work:
                    job.next_chunk += 1
                    job.ahead += 1
                    job.in_flight += 1
            if work:
                self._render(work)

    def _render(self, work: list[tuple[Job, int]]) -> None:
        try:
            self._render_work(work)
        finally:
            with self._cond:
                for job, _ in work:
                    job.in_flight -= 1
                self._cond.notify_all()

    def _render_work(self, work: list[tuple[Job, int]]) -> None:
        t0 = time.perf_counter()
        try:
            pieces = self.render([(job.plan, job.plan.chunks[k]) for job, k in work])
        except Exception as err:  # noqa: BLE001 - delivered to the request, the worker lives on
            with self._cond:
                for job, _ in work:
                    job.cancelled = True
                    job.deliver(err)
            return
        spent = (time.perf_counter() - t0) / len(work)
        self.chunk_seconds = 0.8 * self.chunk_seconds + 0.2 * spent if self.rendered_chunks else spent
        self.rendered_chunks += len(work)
        for (job, k), piece in zip(work, pieces, strict=True):
            if job.cancelled:
                continue
            job.deliver(piece)
            if k == len(job.plan.chunks) - 1:
                job.deliver(None)


__all__ = ["Job", "QueueFull", "Scheduler"]
