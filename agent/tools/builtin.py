"""Importing this module registers the built-in tools."""

from agent.tools import calculator, clock, notes, web

__all__ = ["calculator", "clock", "notes", "web"]
