"""A dedicated embedded server that these tests break on purpose.

The engine process is killed during a batch and the batch still completes
(the supervisor restarts it and the client retries); then the whole server is
stopped during a batch and the client gives ServerUnreachable within its
configured retry budget instead of hanging.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import psutil
import pytest

from agentkit.llm.client import AsyncLLMClient
from agentkit.llm.errors import ServerUnreachable
from agentkit.llm.server import VLLMServer, group_members
from agentkit.llm.types import SamplingParams

pytestmark = pytest.mark.llm


@pytest.fixture(scope="module")
def own_server() -> Iterator[VLLMServer]:
    with VLLMServer() as server:
        yield server


def engine_processes(server: VLLMServer) -> list[psutil.Process]:
    assert server.pid is not None
    return psutil.Process(server.pid).children(recursive=True)


async def test_engine_killed_mid_batch_batch_completes(own_server: VLLMServer) -> None:
    engines = engine_processes(own_server)
    assert engines, "expected vLLM's engine core to run in a child process"
    async with AsyncLLMClient(own_server.url, retry_timeout=400) as llm:
        params = SamplingParams(max_tokens=48, temperature=0.0)
        batch = [asyncio.create_task(llm.complete(f"Story number {i}:", params)) for i in range(24)]
        await asyncio.sleep(1.0)
        for proc in engines:
            proc.kill()
        results = await asyncio.gather(*batch)
    assert len(results) == 24 and all(r.choices for r in results)
    assert own_server.restarts >= 1


async def test_stopped_server_gives_unreachable_not_hang(own_server: VLLMServer) -> None:
    async with AsyncLLMClient(own_server.url, retry_timeout=3.0) as llm:
        await llm.complete("warm up", SamplingParams(max_tokens=2))
        batch = [asyncio.create_task(llm.complete(f"Item {i}", SamplingParams(max_tokens=200))) for i in range(8)]
        await asyncio.sleep(0.5)
        started = time.monotonic()
        own_server.stop()
        results = await asyncio.gather(*batch, return_exceptions=True)
        elapsed = time.monotonic() - started
    errors = [r for r in results if isinstance(r, Exception)]
    assert errors and all(isinstance(e, ServerUnreachable) for e in errors), errors
    assert elapsed < 3.0 + 25.0  # retry budget plus the server's own shutdown time
    assert own_server.pid is not None
    assert group_members(own_server.pid) == []  # no orphaned engine processes
