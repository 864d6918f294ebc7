"""Tool registry: `@tool` turns a typed async function into a Gemini function declaration.

Arguments are validated against the same pydantic model the declaration's JSON schema is
built from, so the model sees exactly what the function accepts. A tool's failure (bad
arguments, its own error, a timeout) becomes an error result for the model, never a crash.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, get_type_hints, overload

from google.genai import types
from pydantic import BaseModel, ConfigDict, ValidationError, create_model

if TYPE_CHECKING:
    from agent.settings import Settings
    from agent.stores.base import NoteStore

log = logging.getLogger(__name__)

JSON = dict[str, Any]
ToolFn = TypeVar("ToolFn", bound=Callable[..., Awaitable[Any]])
MAX_RESULT_CHARS = 20_000


class ToolError(Exception):
    """An expected failure whose message is shown to the model."""


@dataclass(frozen=True)
class ToolContext:
    """What a tool may know about the request it serves."""

    owner: str
    notes: NoteStore
    settings: Settings


@dataclass
class Tool:
    name: str
    description: str
    fn: Callable[..., Awaitable[Any]]
    args_model: type[BaseModel]
    timeout: float | None = None
    # Pure tools (same arguments, same result, no side effects) let a response be cached.
    pure: bool = False
    enabled: Callable[[Settings], bool] = field(default=lambda _s: True)
    wants_context: bool = False

    # Built once: generating a JSON schema costs more than a whole tool call, and every
    # model turn declares its tools. Shared between callers, so never mutate them.
    _schema: JSON | None = field(default=None, init=False, repr=False, compare=False)
    _declaration: types.FunctionDeclaration | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def parameters_schema(self) -> JSON:
        if self._schema is None:
            schema = self.args_model.model_json_schema()
            schema.pop("title", None)
            for prop in schema.get("properties", {}).values():
                prop.pop("title", None)
            self._schema = schema
        return self._schema

    def declaration(self) -> types.FunctionDeclaration:
        if self._declaration is None:
            self._declaration = types.FunctionDeclaration(
                name=self.name,
                description=self.description,
                parameters_json_schema=self.parameters_schema(),
            )
        return self._declaration


class ToolRegistry:
    def __init__(self) -> None:
        self._tools: dict[str, Tool] = {}

    @overload
    def tool(self, fn: ToolFn) -> ToolFn: ...

    @overload
    def tool(
        self,
        fn: None = None,
        *,
        name: str | None = None,
        timeout: float | None = None,
        pure: bool = False,
        enabled: Callable[[Settings], bool] | None = None,
    ) -> Callable[[ToolFn], ToolFn]: ...

    def tool(
        self,
        fn: ToolFn | None = None,
        *,
        name: str | None = None,
        timeout: float | None = None,
        pure: bool = False,
        enabled: Callable[[Settings], bool] | None = None,
    ) -> ToolFn | Callable[[ToolFn], ToolFn]:
        """Register an async function as a tool; usable bare (`@tool`) or with options."""

        def register(f: ToolFn) -> ToolFn:
            original = f
            if not inspect.iscoroutinefunction(f):
                raise TypeError(f"tool {f.__name__} must be an async function")
            tool_name = name or f.__name__
            hints = get_type_hints(f, include_extras=True)
            sig = inspect.signature(f)
            fields: dict[str, Any] = {}
            wants_context = False
            for pname, param in sig.parameters.items():
                if pname == "ctx":
                    wants_context = True
                    continue
                if pname not in hints:
                    raise TypeError(f"tool {tool_name}: parameter {pname} needs a type hint")
                default = ... if param.default is inspect.Parameter.empty else param.default
                fields[pname] = (hints[pname], default)
            model = create_model(
                f"{tool_name}_args",
                __config__=ConfigDict(extra="forbid", strict=False),
                **fields,
            )
            self._tools[tool_name] = Tool(
                name=tool_name,
                description=inspect.cleandoc(f.__doc__ or tool_name),
                fn=f,
                args_model=model,
                timeout=timeout,
                pure=pure,
                enabled=enabled or (lambda _s: True),
                wants_context=wants_context,
            )
            return original

        return register(fn) if fn is not None else register

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def available(self, settings: Settings) -> list[Tool]:
        return [t for t in self._tools.values() if t.enabled(settings)]

    def select(self, settings: Settings, names: Iterable[str] | None) -> list[Tool]:
        """The enabled tools named (all enabled ones when `names` is None)."""
        enabled = {t.name: t for t in self.available(settings)}
        if names is None:
            return list(enabled.values())
        return [enabled[n] for n in names if n in enabled]

    def load_modules(self, modules: Iterable[str]) -> None:
        """Import user modules whose `@tool` decorators register more tools."""
        for module in modules:
            importlib.import_module(module)


async def call_tool(tool: Tool, args: JSON, ctx: ToolContext, default_timeout: float) -> JSON:
    """Run one tool call; every outcome is a JSON result for the model."""
    started = time.perf_counter()
    outcome = "ok"
    try:
        try:
            parsed = tool.args_model.model_validate(args)
        except ValidationError as exc:
            outcome = "invalid_args"
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'args'}: {e['msg']}" for e in exc.errors()
            )
            return {"error": f"invalid arguments: {problems}"}
        kwargs = {k: getattr(parsed, k) for k in tool.args_model.model_fields}
        if tool.wants_context:
            kwargs["ctx"] = ctx
        try:
            async with asyncio.timeout(tool.timeout or default_timeout):
                value = await tool.fn(**kwargs)
        except TimeoutError:
            outcome = "timeout"
            return {"error": f"timed out after {tool.timeout or default_timeout:g} s"}
        except ToolError as exc:
            outcome = "error"
            return {"error": str(exc)}
        except Exception as exc:
            outcome = "error"
            log.warning("tool %s raised", tool.name, exc_info=True)
            return {"error": f"{type(exc).__name__}: {exc}"[:500]}
        output = value if isinstance(value, dict) else {"output": value}
        return _bounded(output)
    finally:
        from agent import metrics

        metrics.TOOL_CALLS.labels(tool=tool.name, outcome=outcome).inc()
        metrics.TOOL_LATENCY.labels(tool=tool.name).observe(time.perf_counter() - started)


def _bounded(output: JSON) -> JSON:
    import json

    text = json.dumps(output, default=str)
    if len(text) <= MAX_RESULT_CHARS:
        return json.loads(text)  # type: ignore[no-any-return]
    return {"output": text[:MAX_RESULT_CHARS], "truncated": True}


registry = ToolRegistry()
tool = registry.tool
