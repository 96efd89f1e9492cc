"""ReAct agents: tools, and the JSON actions that call them.

The ``@tool`` decorator is imported from ``agentkit.agents.tool``: re-exporting
it here would shadow that module's name.
"""

from __future__ import annotations

from agentkit.agents.tool import (
    Action,
    ActionError,
    Tool,
    ToolArgumentError,
    ToolRegistry,
    ToolResult,
    UnknownToolError,
    action_schema,
    builtin_names,
    load_builtin,
    load_tool,
    parse_action,
)

__all__ = [
    "Action",
    "ActionError",
    "Tool",
    "ToolArgumentError",
    "ToolRegistry",
    "ToolResult",
    "UnknownToolError",
    "action_schema",
    "builtin_names",
    "load_builtin",
    "load_tool",
    "parse_action",
]
