# make demo: set up and run ingest on the sample documents. make test: set up and run the tests (all of them, as CI
# does). make test-fast: the tests not marked slow, for the inner loop. make lint: ruff's lint and format check.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
SYSTEM_PACKAGES := tesseract-ocr tesseract-ocr-eng poppler-utils libmagic1 redis-server rabbitmq-server \
	chromium chromium-driver
export DO_NOT_TRACK=true
export ANONYMIZED_TELEMETRY=False
export HF_HUB_OFFLINE=1
export TRANSFORMERS_OFFLINE=1

.PHONY: demo test test-fast lint format bench system-deps install clean

demo: install
	$(BIN)/python examples/demo.py

test: install
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest -m "not slow"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install
	$(BIN)/python benchmarks/partition_bench.py
	$(BIN)/python benchmarks/embed_bench.py
	$(BIN)/python benchmarks/fast_bench.py
	$(BIN)/python benchmarks/coverage_bench.py
	$(BIN)/python benchmarks/reembed_bench.py
	$(BIN)/python benchmarks/scale_bench.py

# OCR, PDF rendering, the Celery tests' brokers and the web page tests' browser come from Debian's packages;
# installed only when missing. The tests start their own redis-server and rabbitmq-server: the ones the packages
# start on installing are stopped.
system-deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	  for service in redis-server rabbitmq-server; do \
	    case "$$missing" in *$$service*) $$SUDO service $$service stop >/dev/null 2>&1 || true;; esac; \
	  done; \
	fi

install: system-deps $(VENV)/.installed

# torch first, pinned to the CPU build (anything that pulls torch unpinned brings a multi-GB CUDA build);
# constraints.txt keeps it there. torchvision cannot load beside this torch and nothing here uses it: removed.
$(VENV)/.installed: setup.cfg constraints.txt packaging/en_core_web_sm/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing the Python environment in $(VENV) (a few minutes the first time; log: $(VENV)/install.log)"
	@( $(BIN)/pip install --upgrade pip \
	  && $(BIN)/pip install torch==2.13.0 \
	  && $(BIN)/pip install -c constraints.txt -e '.[test]' ./packaging/en_core_web_sm \
	  && $(BIN)/pip uninstall -y torchvision ) > $(VENV)/install.log 2>&1 \
	  || { tail -30 $(VENV)/install.log; exit 1; }
	touch $@

clean:
	rm -rf $(VENV) .demo structured-outputs/demo
