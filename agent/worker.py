"""Task workers: claim a queued task, run its steps with a heartbeat, persist every turn.

Postgres (or the in-memory twin) is the source of truth; signals only wake workers up and
tell followers that something changed. A worker that dies loses its lease; the sweeper puts
the task back and the next worker resumes from the last persisted step, so a tool call whose
result was persisted never runs again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid

from google.genai import types

from agent import metrics
from agent.chat import UnknownTools, select_tools
from agent.loop import content_from_json, content_to_json, count_model_turns, run_steps
from agent.model import ModelError
from agent.runtime import Runtime
from agent.stores.base import LeaseLost, StoreUnavailable, Task
from agent.tools.registry import ToolContext

log = logging.getLogger(__name__)

WAKE_CHANNEL = "tasks:wake"


def task_channel(task_id: str) -> str:
    return f"task:{task_id}"


class Worker:
    def __init__(self, rt: Runtime, *, concurrency: int | None = None, name: str | None = None):
        self.rt = rt
        self.concurrency = concurrency or rt.settings.worker_concurrency
        self.id = name or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._wake = asyncio.Event()
        self._running: dict[str, asyncio.Task[None]] = {}
        self._stopping = False

    async def run(self, stop: asyncio.Event) -> None:
        """Run the claim loops, the sweeper and the wake-up listener until `stop` is set;
        then hand every task still held back to the queue at once."""
        loops = [asyncio.create_task(self._claim_loop(i)) for i in range(self.concurrency)]
        loops.append(asyncio.create_task(self._sweep_loop()))
        loops.append(asyncio.create_task(self._listen()))
        log.info("worker started", extra={"worker": self.id, "concurrency": self.concurrency})
        try:
            await stop.wait()
        finally:
            self._stopping = True
            for t in loops:
                t.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
            log.info("worker stopped", extra={"worker": self.id})

    async def _listen(self) -> None:
        while True:
            try:
                async with self.rt.backends.signals.subscribe(WAKE_CHANNEL) as messages:
                    async for _ in messages:
                        self._wake.set()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.debug("wake-up channel unavailable; polling", exc_info=True)
            await asyncio.sleep(2.0)

    async def _sweep_loop(self) -> None:
        while True:
            try:
                swept = await self.rt.backends.tasks.sweep()
                if swept:
                    log.warning("requeued tasks with expired leases", extra={"tasks": swept})
                    self._wake.set()
                metrics.QUEUE_DEPTH.set(await self.rt.backends.tasks.depth())
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("sweep failed", exc_info=True)
            await asyncio.sleep(self.rt.settings.sweep_interval_seconds)

    async def _claim_loop(self, slot: int) -> None:
        lease = self.rt.settings.task_lease_seconds
        while not self._stopping:
            try:
                task = await self.rt.backends.tasks.claim(self.id, lease)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("claim failed; retrying", exc_info=True)
                await asyncio.sleep(1.0)
                continue
            if task is None:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=0.5)
                continue
            job = asyncio.current_task()
            assert job is not None
            self._running[task.id] = job
            try:
                await self.process(task)
            except asyncio.CancelledError:
                # Shutdown: give the task back now rather than after the lease expires.
                with contextlib.suppress(Exception):
                    await asyncio.shield(
                        self.rt.backends.tasks.release(task.id, self.id, "worker shut down")
                    )
                raise
            finally:
                self._running.pop(task.id, None)

    async def _publish(self, task_id: str, event: dict[str, object]) -> None:
        try:
            await self.rt.backends.signals.publish(task_channel(task_id), event)
        except Exception:
            log.debug("publish failed", exc_info=True)

    async def process(self, task: Task) -> None:
        tasks = self.rt.backends.tasks
        lease = self.rt.settings.task_lease_seconds
        cancel = asyncio.Event()

        async def heartbeat() -> None:
            while True:
                await asyncio.sleep(lease / 3)
                try:
                    current = await tasks.heartbeat(task.id, self.id, lease)
                except LeaseLost:
                    cancel.set()
                    return
                except StoreUnavailable:
                    continue
                if current.cancel_requested:
                    cancel.set()

        async def should_stop() -> bool:
            if cancel.is_set():
                return True
            current = await tasks.heartbeat(task.id, self.id, lease)  # LeaseLost propagates
            return current.cancel_requested

        steps = await tasks.steps(task.id)
        history = [types.Content(role="user", parts=[types.Part(text=task.prompt)])]
        history += [content_from_json(s.content) for s in steps]
        prior_tokens = sum(s.tokens for s in steps)
        log.info(
            "task claimed",
            extra={"task": task.id, "attempt": task.attempts, "resume_from_step": len(steps)},
        )
        await self._publish(task.id, {"type": "status", "status": "running"})

        async def on_turn(content: types.Content, tokens: int) -> None:
            step = await tasks.append_step(task.id, self.id, content_to_json(content), tokens)
            await self._publish(task.id, {"type": "turn", "seq": step.seq})

        beat = asyncio.create_task(heartbeat())
        status = "failed"
        try:
            try:
                tools = select_tools(self.rt, task.tools)
            except UnknownTools as exc:
                await tasks.finish(task.id, self.id, "failed", error=f"unknown tools: {exc}")
                return
            try:
                result = await run_steps(
                    self.rt.model,
                    history,
                    tools=tools,
                    ctx=ToolContext(task.owner, self.rt.backends.notes, self.rt.settings),
                    max_steps=task.max_steps,
                    system_prompt=self.rt.settings.system_prompt,
                    tool_timeout=self.rt.settings.tool_timeout_seconds,
                    on_turn=on_turn,
                    should_stop=should_stop,
                    steps_done=count_model_turns(history),
                )
            except ModelError as exc:
                log.warning("task attempt failed", extra={"task": task.id, "error": exc.detail})
                if exc.retryable:
                    await tasks.release(task.id, self.id, exc.detail)
                    status = "released"
                else:
                    await tasks.finish(task.id, self.id, "failed", error=exc.detail)
                return
            status = "cancelled" if result.stopped == "cancelled" else "completed"
            await tasks.finish(
                task.id,
                self.id,
                "cancelled" if status == "cancelled" else "completed",
                result=result.text if status == "completed" else None,
                steps_taken=result.steps,
                tokens_used=prior_tokens + result.tokens,
            )
        except LeaseLost:
            status = "lost"
            log.warning("lease lost; another worker owns the task now", extra={"task": task.id})
        except StoreUnavailable:
            status = "lost"
            log.warning(
                "store unavailable mid-task; the lease will expire", extra={"task": task.id}
            )
        except Exception as exc:
            # A bug must not leave the task running until its lease expires: give it back,
            # and let the attempt cap fail it if it keeps happening.
            status = "released"
            log.exception("task attempt crashed", extra={"task": task.id})
            with contextlib.suppress(Exception):
                await tasks.release(task.id, self.id, f"{type(exc).__name__}: {exc}"[:1000])
        finally:
            beat.cancel()
            metrics.TASKS.labels(status=status).inc()
            await self._publish(task.id, {"type": "status", "status": status})
