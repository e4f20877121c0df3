# The two commands of the README, and a few conveniences. CMake does the building.
#   make demo   build and run the flagship example (examples/load) for 10 seconds
#               (LOAD_FOREVER=1 make demo: until Ctrl-C)
#   make test   install missing packages, build with -Werror, run every test (the fuzzers' smoke
#               runs included), then the tests under ASan+UBSan and the concurrency tests
#               (the load example's integration test among them) under TSan (the fuzzers carry
#               their own sanitizers and are not rebuilt there)
#   make bench  install what the benchmarks need (tests/deps.sh bench: valgrind, cargo and
#               Debian's tracing crates), build ours and the tracing peer, print the ratio table;
#               a report that exits 0 when a bar is missed (marked in the table):
#               make bench BENCH_ARGS=--check, or benchmarks/compare --check, makes the bars the
#               exit status
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE ?= cmake

.PHONY: all demo test deps deps-build build bench clean

all: build

deps-build:
	@sh tests/deps.sh build

deps:
	@sh tests/deps.sh test

# demo turns tests and benchmarks off in the shared build directory: turn them on again here
# (and the examples, which the tests run, in case the directory was configured without them).
ALL_ON = -DTRACE_BUILD_TESTS=ON -DTRACE_BUILD_BENCHMARKS=ON -DTRACE_BUILD_EXAMPLES=ON

build: deps-build
	$(CMAKE) -S . -B $(BUILD) -DTRACE_WERROR=ON $(ALL_ON)
	$(CMAKE) --build $(BUILD) -j$(JOBS)

demo: deps-build
	$(CMAKE) -S . -B $(BUILD) -DTRACE_BUILD_TESTS=OFF -DTRACE_BUILD_BENCHMARKS=OFF \
	  -DTRACE_BUILD_EXAMPLES=ON
	$(CMAKE) --build $(BUILD) -j$(JOBS) --target demo
	$(BUILD)/examples/load

test: deps
	$(CMAKE) -S . -B $(BUILD) -DTRACE_WERROR=ON $(ALL_ON)
	$(CMAKE) --build $(BUILD) -j$(JOBS)
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)
	$(CMAKE) -S . -B $(BUILD)-asan -DTRACE_WERROR=ON -DCMAKE_BUILD_TYPE=Debug \
	  -DTRACE_SANITIZE=address,undefined -DTRACE_BUILD_BENCHMARKS=OFF -DTRACE_BUILD_FUZZERS=OFF
	$(CMAKE) --build $(BUILD)-asan -j$(JOBS)
	cd $(BUILD)-asan && ctest --output-on-failure -j$(JOBS) -LE nosan
	$(CMAKE) -S . -B $(BUILD)-tsan -DTRACE_WERROR=ON -DCMAKE_BUILD_TYPE=Debug \
	  -DTRACE_SANITIZE=thread -DTRACE_BUILD_BENCHMARKS=OFF -DTRACE_BUILD_EXAMPLES=ON \
	  -DTRACE_BUILD_FUZZERS=OFF
	$(CMAKE) --build $(BUILD)-tsan -j$(JOBS)
	cd $(BUILD)-tsan && ctest --output-on-failure -j$(JOBS) -L concurrency
	@echo "make test: all passed (plain, ASan+UBSan, TSan)"

# bench needs neither the tests nor their packages (cmocka, jansson): off, as demo does, so that
# make bench works on a machine where only tests/deps.sh bench has run.
bench:
	@sh tests/deps.sh bench
	$(CMAKE) -S . -B $(BUILD) -DTRACE_WERROR=ON -DTRACE_BUILD_TESTS=OFF -DTRACE_BUILD_BENCHMARKS=ON
	$(CMAKE) --build $(BUILD) -j$(JOBS) --target bench
	benchmarks/compare --bench $(BUILD)/benchmarks/bench $(BENCH_ARGS)

clean:
	rm -rf $(BUILD) $(BUILD)-asan $(BUILD)-tsan
