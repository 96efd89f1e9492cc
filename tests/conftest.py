"""Shared fixtures: one real vLLM server for the whole session.

With AGENTKIT_TEST_LLM_URL set, tests use that server; otherwise the embedded
default (SmolLM2-135M-Instruct on the CPU) is started once and stopped at the end.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest

from agentkit.llm.client import AsyncLLMClient


@pytest.fixture(scope="session")
def llm_url() -> Iterator[str]:
    url = os.environ.get("AGENTKIT_TEST_LLM_URL")
    if url:
        yield url
        return
    from agentkit.llm.server import VLLMServer

    with VLLMServer() as server:
        yield server.url


@pytest.fixture
async def client(llm_url: str) -> AsyncIterator[AsyncLLMClient]:
    async with AsyncLLMClient(llm_url, retry_timeout=120) as llm:
        yield llm
