# sluice: a thin wrapper around CMake. `make run` and `make test` install the
# Debian packages they need first (as root; otherwise they print the command).
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=

.PHONY: all build deps run test bench fuzz lint format clean load valgrind install

all: build

deps:
	@scripts/deps.sh build

build: deps
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

# `make install [PREFIX=DIR] [DESTDIR=STAGE]`: bin/sluice, the sluice(1) page
# and the bash, zsh and fish completions under PREFIX (docs/cli.md).
PREFIX ?= /usr/local
install: build
	@cmake --install $(BUILD) --prefix $(PREFIX)

DATA ?= ./sluice-data
LISTEN ?= 127.0.0.1:8080
# SERVE_ARGS: more `sluice serve` options, e.g. SERVE_ARGS="--signup open"
SERVE_ARGS ?=

run: build
	@$(BUILD)/sluice serve --data $(DATA) --listen $(LISTEN) --public-url http://$(LISTEN) $(SERVE_ARGS)

test:
	@scripts/deps.sh test
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)
	@cd $(BUILD) && ctest --no-tests=error --output-on-failure -j$(JOBS)

# bench_tlog runs inside compare.py, which quotes it in its table.
# bench_scale needs PostgreSQL, moto and the aws CLI (docs/PERFORMANCE.md).
bench: build
	@scripts/deps.sh bench
	@$(BUILD)/bench/bench_inspect
	@$(BUILD)/bench/bench_fp
	@python3 bench/bench_serve.py --sluice $(BUILD)/sluice $(BENCH_SERVE_ARGS)
	@python3 bench/compare.py --sluice $(BUILD)/sluice $(BENCH_COMPARE_ARGS)
	@python3 bench/bench_scale.py --sluice $(BUILD)/sluice $(BENCH_SCALE_ARGS)
	@python3 bench/bench_hosted.py --sluice $(BUILD)/sluice $(BENCH_HOSTED_ARGS)

# A 60-second mixed workload with 64 connections against a real server
# (tests/load/load.py; LOAD_ARGS e.g. --seconds 20), and a stalled request
# body waiting out the 30 s body idle timeout (tests/load/slow_body.py).
# Not part of `make test`.
load: build
	@python3 tests/load/load.py --sluice $(BUILD)/sluice $(LOAD_ARGS)
	@python3 tests/load/slow_body.py --sluice $(BUILD)/sluice

# The server and CLI under valgrind memcheck for an integration subset
# (about 10 minutes; `make test` runs only tests/valgrind/test_smoke.py).
VALGRIND_TESTS ?= tests/valgrind/test_smoke.py tests/integration/test_server_api.py \
	tests/integration/test_access_cli.py
valgrind: build
	@scripts/deps.sh test
	@python3 tests/valgrind/run.py $(BUILD)/sluice $(VALGRIND_TESTS)

fuzz:
	@scripts/deps.sh test
	@scripts/sanitize-build.sh $(CURDIR) $(CURDIR)/$(BUILD)/sanitize
	@for f in fuzz/fuzz_*.c; do n=$$(basename $$f .c); echo "== $$n"; \
	  extra=""; [ $$n = fuzz_pack ] && extra=$(CURDIR)/policy; \
	  scripts/run-fuzzer.sh $(CURDIR)/$(BUILD)/sanitize/fuzz/$$n $${FUZZ_SECONDS:-60} \
	    $(CURDIR)/fuzz/corpus/$$n $$extra || exit 1; done

lint:
	@scripts/check-format.sh .
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	@cppcheck --quiet --error-exitcode=1 --enable=warning,portability --inline-suppr \
	  --suppress=missingIncludeSystem -I src src

format:
	@clang-format -i $$(git ls-files -co --exclude-standard -- 'src/*.[ch]' 'tests/*.c' 'fuzz/*.c' 'bench/*.c')

clean:
	rm -rf $(BUILD)
