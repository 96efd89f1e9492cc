"""Built-in tool: read a text file, confined to one root folder.

The requested path is resolved (``..`` and symlinks followed) and must land
inside the root; the file actually opened is checked again through its file
descriptor, so a symlink swapped in between cannot lead outside. Only regular
files are read, and only the first ``max_bytes``.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from agentkit.agents.tool import Tool, tool

DEFAULT_MAX_BYTES = 16_000


class ReadFileError(ValueError):
    """A path the tool refuses or cannot read."""


def read_file_tool(root: str | Path | None = None, max_bytes: int = DEFAULT_MAX_BYTES) -> Tool:
    """A ``read_file`` tool confined to ``root`` (the current folder at call time when None)."""

    @tool(name="read_file")
    def read_file(path: str) -> str:
        """Read a UTF-8 text file.

        Args:
            path: the file's path, relative to the folder this tool may read
        """
        base = Path(root if root is not None else os.getcwd()).resolve()
        return read_text(base, path, max_bytes)

    return read_file


def read_text(base: Path, path: str, max_bytes: int) -> str:
    """The start of text file ``path`` (relative to the resolved folder ``base``), refusing escapes."""
    if not path.strip() or "\0" in path:
        raise ReadFileError("give a non-empty file path")
    target = (base / path).resolve()
    if not target.is_relative_to(base):
        how = "'..' leads" if ".." in Path(path).parts else "it resolves"
        raise ReadFileError(f"refused '{path}': {how} outside the folder this tool may read")
    try:
        fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        raise ReadFileError(f"no such file: '{path}'") from None
    except OSError as error:
        raise ReadFileError(f"cannot open '{path}': {error.strerror}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise ReadFileError(f"'{path}' is {kind}")
    with os.fdopen(fd, "rb") as file:
        opened = _opened_path(fd)
        if opened is not None and not opened.is_relative_to(base):
            raise ReadFileError(f"refused '{path}': it resolves outside the folder this tool may read")
        data = file.read(max_bytes + 1)
    if b"\0" in data:
        raise ReadFileError(f"'{path}' is a binary file, not text")
    text = data[:max_bytes].decode("utf-8", errors="replace")
    if len(data) > max_bytes:
        text += f"\n[truncated: the file is {info.st_size} bytes; showed the first {max_bytes}]"
    return text


def _opened_path(fd: int) -> Path | None:
    """The real path of an open file, where the OS tells it (Linux /proc)."""
    link = Path(f"/proc/self/fd/{fd}")
    try:
        return Path(os.readlink(link))
    except OSError:
        return None


TOOL = read_file_tool()
