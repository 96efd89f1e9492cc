"""agentkit: prompting strategies, RAG and ReAct agents on a local vLLM server.

Names are imported on first use (PEP 562), so ``import agentkit`` loads no
heavy library (httpx, pydantic, torch, faiss, vllm) until it is needed.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # LLM access
    "AsyncLLMClient": "agentkit.llm.client",
    "LLMClient": "agentkit.llm.sync",
    "SamplingParams": "agentkit.llm.types",
    "Constraint": "agentkit.llm.types",
    "Completion": "agentkit.llm.types",
    "VLLMServer": "agentkit.llm.server",
    "prepare_default_model": "agentkit.llm.model",
    # Steps, pipelines, runs
    "Step": "agentkit.core.step",
    "WiringError": "agentkit.core.step",
    "Pipeline": "agentkit.core.pipeline",
    "Context": "agentkit.core.context",
    "register": "agentkit.core.registry",
    "run_many": "agentkit.core.batch",
    "run_many_sync": "agentkit.core.batch",
    "ResponseCache": "agentkit.core.cache",
    "Span": "agentkit.core.trace",
    "load_step_yaml": "agentkit.core.yamlconfig",
    "dump_step_yaml": "agentkit.core.yamlconfig",
    # Prompts and answers
    "PromptLibrary": "agentkit.prompting.templates",
    "Generate": "agentkit.prompting.steps",
    "Extract": "agentkit.prompting.steps",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'agentkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
