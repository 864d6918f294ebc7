"""Tools the model may call: a registry with a decorator, and the built-ins."""

from agent.tools.registry import Tool, ToolContext, ToolError, ToolRegistry, registry, tool

__all__ = ["Tool", "ToolContext", "ToolError", "ToolRegistry", "registry", "tool"]
