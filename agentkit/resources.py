"""Where agentkit's bundled folders (``prompts/``, ``tools/``, ``evals/``) live.

An installed wheel carries them inside the package as ``agentkit/_bundled/<name>``;
a source checkout has them at the top of the repository. Every loader asks here,
so both layouts behave the same.
"""

from __future__ import annotations

from pathlib import Path

import agentkit


def resource_dir(name: str) -> Path:
    """The folder holding the bundled resource ``name`` (``"prompts"``, ``"tools"``, ``"evals"``)."""
    package = Path(agentkit.__file__).parent
    bundled = package / "_bundled" / name
    if bundled.is_dir():
        return bundled
    return package.parent / name
