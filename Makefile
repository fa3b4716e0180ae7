# weft - the two commands a user needs:
#   make test    install what is missing, build, run every test (CTest)
#   make bench   install what is missing, build release, run the standard suite, write a report
# and the ones CI and maintainers use: test-asan, test-tsan, compare, reproduce.

SHELL := /bin/bash
CC ?= cc
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
BUILD ?= build
# Debian's python3 has matplotlib and scipy; a pyenv python3 on PATH does not.
PYTHON ?= $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || echo python3)
PROFILE ?= standard
# The peer runtimes measured beside weft (docs/bench-protocol.md); none: weft only.
PEERS ?= tokio-mt,tokio-ct,async-std,go
LAUNCHES ?= 5
SEED ?= 1
BENCH_ARGS ?=
CMAKE_FLAGS ?=

DEB_PACKAGES := build-essential cmake pkg-config clang libhwloc-dev libjemalloc-dev \
	libcmocka-dev libcjson-dev libbenchmark-dev libbenchmark-tools libssl-dev python3 \
	python3-matplotlib python3-scipy git nlohmann-json3-dev \
	cargo rustc librust-tokio-dev librust-async-std-dev librust-async-io-dev \
	librust-futures-lite-dev librust-sha1-dev librust-smallvec-dev librust-libc-dev golang-go

.PHONY: all deps build peers test test-asan test-tsan bench bench-quick advise compare reproduce clean install

all: build

# Installs every missing Debian package (apt-get; through sudo when not root).
deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "weft: installing missing packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

define configure_and_build
	cmake -S . -B $(1) -DCMAKE_C_COMPILER=$(CC) $(2) $(CMAKE_FLAGS) >/dev/null
	cmake --build $(1) -j $(JOBS)
endef

build: deps
	$(call configure_and_build,$(BUILD)/release,-DCMAKE_BUILD_TYPE=Release)

test: deps
	$(call configure_and_build,$(BUILD)/test,-DCMAKE_BUILD_TYPE=RelWithDebInfo -DWEFT_WERROR=ON)
	cd $(BUILD)/test && ctest --output-on-failure -j $(JOBS)

test-asan: deps
	$(call configure_and_build,$(BUILD)/asan-$(notdir $(CC)),-DCMAKE_BUILD_TYPE=Debug -DWEFT_WERROR=ON -DWEFT_SANITIZE=address -DWEFT_BUILD_BENCH=OFF)
	cd $(BUILD)/asan-$(notdir $(CC)) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j $(JOBS)

test-tsan: deps
	$(call configure_and_build,$(BUILD)/tsan-$(notdir $(CC)),-DCMAKE_BUILD_TYPE=RelWithDebInfo -DWEFT_WERROR=ON -DWEFT_SANITIZE=thread -DWEFT_BUILD_BENCH=OFF)
	cd $(BUILD)/tsan-$(notdir $(CC)) && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	  ctest --output-on-failure -j $(JOBS)

# The peer programs (bench/peers/*/build.sh OUTDIR) into $(BUILD)/peers. A
# build.sh that exits 3 has no toolchain here: that peer is left out with one
# line (weft-bench then records it in weft_peers_missing); any other failure
# stops make.
peers:
	@mkdir -p $(BUILD)/peers
	@for lang in rust go; do \
	  script=bench/peers/$$lang/build.sh; \
	  if [ ! -f $$script ]; then echo "weft: peers: $$script is not in this tree: the $$lang peers are left out"; continue; fi; \
	  bash $$script $(BUILD)/peers; rc=$$?; \
	  if [ $$rc -eq 3 ]; then echo "weft: peers: no $$lang toolchain: the $$lang peers are left out"; \
	  elif [ $$rc -ne 0 ]; then echo "weft: peers: $$script failed (exit $$rc)"; exit $$rc; fi; \
	done

# The main job: release build, the peers, every workload on every scheduler and
# peer runtime in $(LAUNCHES) launch rounds of separate processes (the
# coordinator of docs/bench-protocol.md), then the report under results/.
bench: build $(if $(filter none,$(PEERS)),,peers)
	@mkdir -p $(BUILD)/bench-out
	@t0=$$(date +%s); \
	$(BUILD)/release/bench/weft-bench --profile=$(PROFILE) --launches=$(LAUNCHES) --seed=$(SEED) \
	  --peers=$(PEERS) --peers-dir=$(BUILD)/peers \
	  --benchmark_out=$(BUILD)/bench-out/weft-bench.json $(BENCH_ARGS) || exit $$?; \
	echo "weft: make bench: measured in $$(( $$(date +%s) - t0 )) s (weft-bench, peers included)"
	$(PYTHON) bench/report.py --out-root results $(BUILD)/bench-out/weft-bench.json

bench-quick:
	$(MAKE) bench PROFILE=quick

# make advise SWEEP="lifo_slot=0,1 steal_batch=0,1" [WORKLOADS=a,b] [SERVICES="f.json g.json"]:
# the sweep (and the services) on every scheduler in $(LAUNCHES) launch rounds,
# the report under results/, then bench/advise.py, whose last line is the
# recommended configuration as a WEFT_KNOBS= string to paste.
SWEEP ?=
WORKLOADS ?=
SERVICES ?=
advise: build
	@test -n "$(SWEEP)$(SERVICES)" || { echo "usage: make advise SWEEP=\"NAME=v1,v2 ...\" [WORKLOADS=a,b] [SERVICES=\"f.json ...\"]"; exit 2; }
	@mkdir -p $(BUILD)/advise-out
	$(BUILD)/release/bench/weft-bench --profile=$(PROFILE) --launches=$(LAUNCHES) --seed=$(SEED) --peers=none \
	  $(foreach s,$(SWEEP),--sweep=$(s)) $(foreach f,$(SERVICES),--service=$(f)) \
	  $(if $(WORKLOADS),--workloads=$(WORKLOADS)) \
	  --benchmark_out=$(BUILD)/advise-out/weft-bench.json $(BENCH_ARGS)
	$(PYTHON) bench/report.py --out-root results $(BUILD)/advise-out/weft-bench.json
	$(PYTHON) bench/advise.py $(BUILD)/advise-out/weft-bench.json

# make compare A=<result dir or json> B=<result dir or json>
compare:
	@test -n "$(A)" -a -n "$(B)" || { echo "usage: make compare A=<result> B=<result>"; exit 2; }
	$(PYTHON) bench/compare.py $(A) $(B)

# make reproduce RESULT=results/<machine>-<date>-<commit>
reproduce: build $(if $(filter none,$(PEERS)),,peers)
	@test -n "$(RESULT)" || { echo "usage: make reproduce RESULT=results/<dir>"; exit 2; }
	WEFT_BENCH=$(BUILD)/release/bench/weft-bench $(PYTHON) bench/reproduce.py $(RESULT)

# make install [PREFIX=/usr/local]: configures a release build, builds only
# the library (not the tests, the examples or the C++ benchmark) and installs
# the headers, libweft.a, weft.pc and the CMake package weft::weft under PREFIX.
# CMAKE_FLAGS=-DWEFT_SANITIZE=address installs a sanitizer build whose
# package carries the -fsanitize flags its consumers need.
PREFIX ?= /usr/local
install: deps
	cmake -S . -B $(BUILD)/release -DCMAKE_C_COMPILER=$(CC) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD)/release -j $(JOBS) --target weft
	cmake --install $(BUILD)/release --prefix $(PREFIX)

clean:
	rm -rf $(BUILD)
