"""A slow tool for the worker crash test, loaded into `agent worker` via TOOL_MODULES.

Each run appends a line to $SLOW_TOOL_LOG when it finishes, so the test can tell which
process completed which call.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

from agent.tools.registry import tool


@tool(timeout=30.0)
async def slow_step(tag: str, seconds: float = 1.0) -> dict[str, Any]:
    """Wait `seconds`, then report which process ran the step `tag`."""
    await asyncio.sleep(seconds)
    done = {"tag": tag, "pid": os.getpid()}
    _record(done)
    return done


def _record(done: dict[str, Any]) -> None:
    log = os.environ.get("SLOW_TOOL_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as f:
            f.write(json.dumps(done) + "\n")
