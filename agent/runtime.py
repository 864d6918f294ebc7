"""The long-lived parts a request or a worker needs, opened once per process."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from agent.backends import Backends, open_backends
from agent.model import Model
from agent.settings import Settings
from agent.tools import ToolRegistry, registry
from agent.tools import builtin as _builtin  # noqa: F401  (registers the built-in tools)

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    backends: Backends
    model: Model
    tools: ToolRegistry

    def __post_init__(self) -> None:
        # key -> key id, computed once: identifying a caller must not re-hash every key.
        self.key_table = self.settings.api_key_table()
        # Work that outlives its request (a streamed chat whose client went away).
        self.background: set[asyncio.Task[None]] = set()

    @classmethod
    async def open(cls, settings: Settings) -> Runtime:
        registry.load_modules(settings.tool_modules)
        backends = await open_backends(settings)
        try:
            model = Model(settings)
        except Exception:
            await backends.aclose()
            raise
        return cls(settings=settings, backends=backends, model=model, tools=registry)

    async def aclose(self) -> None:
        if self.background:
            await asyncio.wait(self.background, timeout=10)
        await self.model.aclose()
        await self.backends.aclose()

    def describe(self) -> dict[str, str]:
        """What this process runs on, for /health and the start-up log."""
        s = self.settings
        return {
            "model": self.model.label,
            "model_backend": "emulator" if s.uses_emulator else "gemini",
            "auth": "api-keys" if s.auth_enabled else "disabled (open API)",
            **self.backends.kinds,
        }
