# sluice: a thin wrapper around CMake. `make run` and `make test` install the
# Debian packages they need first (as root; otherwise they print the command).
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=

.PHONY: all build deps run test bench fuzz lint format clean

all: build

deps:
	@scripts/deps.sh build

build: deps
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

DATA ?= ./sluice-data
LISTEN ?= 127.0.0.1:8080

run: build
	@$(BUILD)/sluice serve --data $(DATA) --listen $(LISTEN)

test:
	@scripts/deps.sh test
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)
	@cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

bench: build
	@scripts/deps.sh bench
	@$(BUILD)/bench/bench_inspect
	@python3 bench/bench_serve.py --sluice $(BUILD)/sluice $(BENCH_SERVE_ARGS)

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
