"""gemini-agent: a Gemini agent with tools, session memory and durable tasks."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gemini-agent")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"
