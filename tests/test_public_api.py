"""The public API: every exported name resolves, and importing agentkit stays light."""

from __future__ import annotations

import subprocess
import sys

import agentkit


def test_every_exported_name_resolves() -> None:
    for name in agentkit.__all__:
        assert getattr(agentkit, name) is not None, name


def test_import_loads_no_heavy_library() -> None:
    code = (
        "import sys, agentkit; "
        "heavy = [m for m in ('torch', 'faiss', 'vllm', 'numpy', 'httpx', 'pydantic', 'transformers') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
