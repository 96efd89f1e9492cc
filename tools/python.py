"""Built-in tool: run Python code in a separate, limited and isolated process.

Each call gets a fresh temporary folder as its working directory, a stripped
environment, resource limits (CPU seconds, address space, file size, processes,
open files) and a wall-clock timeout after which its whole process group is
killed. Where Linux allows it, ``_sandbox.py`` also cuts the network, makes the
file system read-only outside that folder and kills leftover processes; what
actually applied is reported in ``ToolResult.details["isolation"]``.

What is not confined: the code can read any file its user can read. As root,
Linux does not enforce the process-count limit (RLIMIT_NPROC), so a fork bomb
is bounded only by the timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentkit.agents.tool import Tool, ToolResult, tool

LAUNCHER = Path(__file__).with_name("_sandbox.py")
_READ_CHUNK = 65536


@dataclass(frozen=True)
class SandboxSettings:
    """Limits for one run; memory is address space, so it also bounds memory maps."""

    timeout_s: float = 10.0
    cpu_s: int = 10
    memory_mb: int = 512
    file_size_mb: int = 16
    max_processes: int = 64
    max_open_files: int = 256
    max_output_bytes: int = 4000
    namespaces: bool = True


class _CappedOutput:
    """Keeps the first and last part of a stream, so a flood of output cannot fill memory."""

    def __init__(self, limit: int) -> None:
        self.head_limit, self.tail_limit = limit * 3 // 4, limit // 4
        self.head, self.tail = bytearray(), bytearray()
        self.total = 0

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.head_limit - len(self.head)
        self.head += chunk[:room]
        self.tail += chunk[max(room, 0) :]
        del self.tail[: max(0, len(self.tail) - self.tail_limit)]

    def text(self) -> tuple[str, bool]:
        kept = len(self.head) + len(self.tail)
        head = self.head.decode("utf-8", errors="replace")
        tail = self.tail.decode("utf-8", errors="replace")
        if self.total <= kept:
            return head + tail, False
        return f"{head}\n[... {self.total - kept} bytes of output cut ...]\n{tail}", True


async def run_python(code: str, settings: SandboxSettings = SandboxSettings()) -> ToolResult:
    """Run ``code`` as a script under ``settings``; the result says how it ended and what isolation applied."""
    work = Path(tempfile.mkdtemp(prefix="agentkit-python-"))
    status_read, status_write = os.pipe()
    try:
        script = work / "main.py"
        script.write_text(code, encoding="utf-8")
        config = {
            "work": str(work),
            "script": str(script),
            "status_fd": status_write,
            "namespaces": settings.namespaces,
            "limits": {
                "cpu_s": settings.cpu_s,
                "memory_bytes": settings.memory_mb * 2**20,
                "file_bytes": settings.file_size_mb * 2**20,
                "processes": settings.max_processes,
                "open_files": settings.max_open_files,
            },
        }
        env = {"PATH": os.defpath, "HOME": str(work), "TMPDIR": str(work), "LANG": "C.UTF-8"}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-I", str(LAUNCHER), json.dumps(config),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            cwd=work, env=env, pass_fds=(status_write,), start_new_session=True,
        )  # fmt: skip
        os.close(status_write)
        status_write = -1
        output = _CappedOutput(settings.max_output_bytes)
        timed_out = await _wait(process, output, settings.timeout_s)
        isolation, outcome = _read_status(status_read)
    finally:
        for fd in (status_read, status_write):
            if fd >= 0:
                os.close(fd)
        shutil.rmtree(work, ignore_errors=True)
    text, truncated = output.text()
    details: dict[str, Any] = {"timed_out": timed_out, "truncated": truncated, "isolation": isolation, **outcome}
    error = _describe_failure(timed_out, outcome, text, settings)
    if error is None and not text.strip():
        text = "(no output; print() the values you want to see)"
    return ToolResult(ok=error is None, output=text, error=error, details=details)


async def _wait(process: asyncio.subprocess.Process, output: _CappedOutput, timeout_s: float) -> bool:
    """Collect output until the process ends or the timeout; always kill its process group. True if timed out."""
    assert process.stdout is not None
    stdout = process.stdout

    async def pump() -> None:
        while chunk := await stdout.read(_READ_CHUNK):
            output.feed(chunk)

    reader = asyncio.ensure_future(pump())
    timed_out = False
    try:
        await asyncio.wait_for(process.wait(), timeout_s)
    except TimeoutError:
        timed_out = True
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(process.wait()), 5.0)
        # Escaped processes may still hold the pipe open; do not wait for them.
        done, _ = await asyncio.wait({reader}, timeout=1.0)
        if not done:
            reader.cancel()
    return timed_out


def _read_status(fd: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The launcher's two status lines: which isolation applied, and how the code ended."""
    os.set_blocking(fd, False)
    data = b""
    with contextlib.suppress(BlockingIOError):
        while chunk := os.read(fd, _READ_CHUNK):
            data += chunk
    lines = [json.loads(line) for line in data.decode().splitlines() if line.strip()]
    isolation = lines[0] if lines else {"namespaces": "unknown (the launcher did not report)"}
    outcome = lines[1] if len(lines) > 1 else {}
    return isolation, outcome


def _describe_failure(timed_out: bool, outcome: dict[str, Any], text: str, settings: SandboxSettings) -> str | None:
    if timed_out:
        return f"the code ran longer than {settings.timeout_s:g} s and was killed"
    if "signal" in outcome:
        name = signal.Signals(outcome["signal"]).name
        if name == "SIGXCPU":
            return f"the code used more than its {settings.cpu_s} s of CPU time and was killed"
        return f"the code was killed by {name}"
    code = outcome.get("exit_code")
    if code is None:
        return "the sandbox ended without reporting an exit status"
    if code == 0:
        return None
    if "MemoryError" in text:
        return f"exit code {code}: out of memory (the limit is {settings.memory_mb} MB)"
    return f"exit code {code}"


def python_tool(**settings: Any) -> Tool:
    """A ``python`` tool with the given :class:`SandboxSettings` fields."""
    limits = SandboxSettings(**settings)

    @tool(name="python")
    async def python(code: str) -> ToolResult:
        """Run a Python script in a fresh, isolated process and return what it prints.

        Each call starts from scratch in an empty folder: no variables or files
        survive between calls. Use print() to show results.

        Args:
            code: the complete Python script to run
        """
        return await run_python(code, limits)

    return python


TOOL = python_tool()
