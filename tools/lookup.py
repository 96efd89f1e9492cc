"""Built-in tool: ReAct's ``lookup[keyword]`` in the document the last ``search`` opened.

Each call returns the next sentence containing the keyword, as
``(Result i / n) sentence``; a new keyword starts over. The reading position is
per-run state held by a :class:`~agentkit.rag.browse.BrowseSession`, so the tool
must be made per agent run with the same session as its ``search`` tool
(:func:`agentkit.rag.browse.browse_tools` does both); there is no shared instance.
"""

from __future__ import annotations

from agentkit.agents.tool import Tool, ToolResult, tool
from agentkit.rag.browse import BrowseError, BrowseSession


def lookup_tool(session: BrowseSession) -> Tool:
    """A ``lookup`` tool reading the page that ``session``'s last search opened."""
    if not isinstance(session, BrowseSession):
        raise TypeError(f"lookup_tool needs a BrowseSession shared with a search tool, got {type(session).__name__}")

    @tool(name="lookup")
    def lookup(keyword: str) -> ToolResult:
        """Find the next sentence containing a keyword in the document the last search returned.

        Args:
            keyword: a word or short phrase to find, e.g. "born in"
        """
        try:
            return ToolResult(ok=True, output=session.lookup(keyword))
        except BrowseError as error:
            return ToolResult(ok=False, error=str(error))

    return lookup
