# The quick start: `make demo` (set up, train gpt on the default corpus, sample, evaluate)
# and `make test` (set up if needed, run the test suite). Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RUN ?= runs/gpt
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1

.PHONY: setup demo test docs clean gpu-check

$(VENV)/.installed: pyproject.toml requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install -r requirements.txt
	touch $@

setup: $(VENV)/.installed

# Train (or finish an interrupted run), then sample and evaluate on the test split.
demo: setup
	@if [ -f $(RUN)/samples.txt ]; then echo "$(RUN) is trained already (rm -r $(RUN) to retrain)"; \
	elif [ -f $(RUN)/checkpoints/state.json ]; then $(BIN)/gentext train --resume --out $(RUN); \
	else $(BIN)/gentext train --model gpt --out $(RUN); fi
	$(BIN)/gentext sample $(RUN) --n 10
	$(BIN)/gentext eval $(RUN)

test: setup
	$(BIN)/python -m pytest -q

# On a CUDA machine: every family trains, evaluates and samples; the benchmark; two GPUs (about
# 10 minutes on one H100). Writes gpu-check.md; `python bench/gpu_check.py --help` for options.
gpu-check: setup
	$(BIN)/python bench/gpu_check.py

docs: setup
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

clean:
	rm -rf $(VENV) site
