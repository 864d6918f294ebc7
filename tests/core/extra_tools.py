"""A user tool module, loaded through TOOL_MODULES."""

from agent.tools import tool


@tool
async def shout(text: str) -> str:
    """Upper-case the text."""
    return text.upper()
