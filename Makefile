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

# pytest-xdist workers. Most tests wait on a socket, a pace or a process rather than compute,
# so more workers than the 2 cores pay off.
TEST_WORKERS ?= 3
# The real-audio tests: their rigs mostly wait on real time, so two share the cores well.
AUDIO_WORKERS ?= 2
CHECK_WORKERS ?= 6
# Each worker imports the package and the tests: let them reuse compiled bytecode.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: test check pytest pytest-audio pytest-rest check-tests lint demo system-deps venv clean

# The whole suite: ruff and mypy beside both test passes below (tiers: CONTRIBUTING.md,
# tests/tiers.py). Output comes per job as each one ends.
test: system-deps venv
	@$(MAKE) --no-print-directory -j3 --output-sync=target lint pytest-audio pytest-rest

# Two passes side by side: the real-audio tests (in real time) on two workers, a file each at a
# time, each worker on a virtual sound card of its own (a private PulseAudio daemon per pytest
# session), and the rest spread over xdist workers, which load the cores meanwhile.
# Each pass fails on its own failures, and on selecting no test at all (pytest's exit 5).
pytest: venv
	@$(MAKE) --no-print-directory -j2 --output-sync=target pytest-audio pytest-rest

# `exec`: a recipe with quotes runs under sh, and shell completion (tests/test_cli.py, the
# README's --install-completion) finds its shell by walking up from pytest: it must not meet sh.
pytest-audio: venv
	exec $(PY) -m pytest -q -n $(AUDIO_WORKERS) --dist loadfile -m audio

pytest-rest: venv
	exec $(PY) -m pytest -q -n $(TEST_WORKERS) --dist worksteal -m "not audio"

# The quick loop: ruff, mypy and the tests that need no sound card and start no program,
# mypy beside the tests (it is one core's work; the tests mostly wait). No audio group here,
# so idle workers may take queued tests from busy ones (worksteal).
check: venv
	@$(MAKE) --no-print-directory -j2 --output-sync=target lint check-tests

check-tests: venv
	exec $(PY) -m pytest -q -n $(CHECK_WORKERS) --dist worksteal -m "not audio and not subprocess"

# ruff over the package and the tests; mypy over the package (strict on protocol/, config/,
# transport/ and the state machine: pyproject.toml).
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
