"""A step tool mounted into the chaos stack's app containers (TOOL_MODULES=chaos_tools).

Each finished run appends {tag, host, pid} to $CHAOS_TOOL_LOG (a host folder bind-mounted
into every app container), so a test can tell which container completed which step and
whether any completed step ran twice.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
from typing import Any

from agent.tools.registry import tool


@tool(timeout=30.0)
async def chaos_step(tag: str, seconds: float = 0.5) -> dict[str, Any]:
    """Wait `seconds`, then report which container ran the step `tag`."""
    await asyncio.sleep(seconds)
    done = {"tag": tag, "host": socket.gethostname(), "pid": os.getpid()}
    _record(done)
    return done


def _record(done: dict[str, Any]) -> None:
    log = os.environ.get("CHAOS_TOOL_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as f:
            f.write(json.dumps(done) + "\n")
