"""Where the shipped folders (prompts/, tools/, evals/) are, installed or not.

A wheel carries them as ``agentkit/_bundled/<name>``; a source checkout (and an
editable install) keeps them at the repository's top level.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    bundled = _PACKAGE / "_bundled" / name
    return bundled if bundled.exists() else _PACKAGE.parent / name
