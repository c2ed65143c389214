# omnichat: `make demo` and `make test` work from a fresh clone. Each installs what is missing
# (Debian packages through apt-get when run as root, the Python virtual environment), then runs.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
OMNICHAT := $(VENV)/bin/omnichat
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo-out

# libportaudio2: sounddevice's PortAudio. pulseaudio, pulseaudio-utils, libasound2-plugins: the
# private virtual sound card the audio tests use. espeak-ng, sox: real speech for the emulator
# and the tests.
SYSTEM_PACKAGES := libportaudio2 libasound2-plugins pulseaudio pulseaudio-utils espeak-ng sox

.PHONY: test pytest lint demo system-deps venv clean

# The whole suite: ruff and mypy first, then pytest. Not side by side: the real-audio tests
# run on a virtual sound card in real time, and a busy second core makes it underrun.
test: system-deps venv
	@$(MAKE) --no-print-directory lint
	@$(MAKE) --no-print-directory pytest

pytest: venv
	$(PY) -m pytest -q

# ruff over the package and the tests; mypy over the package (strict on the protocol layer).
lint: venv
	$(VENV)/bin/ruff check omnichat tests
	$(VENV)/bin/mypy omnichat

demo: system-deps venv
	@mkdir -p $(DEMO_DIR)
	$(OMNICHAT) talk --local --input omnichat/data/sample-question.wav \
		--output $(DEMO_DIR)/reply.wav --transcript $(DEMO_DIR)/transcript.jsonl

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || { \
		echo "error: could not create a virtual environment; install python3-venv (apt-get install python3-venv)" >&2; exit 1; }
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $(STAMP)

system-deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if ! command -v apt-get >/dev/null 2>&1; then \
		echo "note: not a Debian/Ubuntu system; install the equivalents of:$$missing (audio tests will be skipped)" >&2; exit 0; fi; \
	if [ "$$(id -u)" != "0" ]; then \
		echo "note: missing system packages:$$missing; run 'sudo apt-get install -y$$missing' (audio tests are skipped until then)" >&2; exit 0; fi; \
	echo "installing system packages:$$missing"; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get install -y -qq --no-install-recommends $$missing >/dev/null 2>&1 || \
	{ apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing; }

clean:
	rm -rf $(VENV) $(DEMO_DIR)
