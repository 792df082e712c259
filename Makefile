# llmsim: one non-recursive Makefile.
#   make run     install missing packages, build, replay configs/default.json
#   make test    build and run the Check suite
#   make bench   speed and memory figures (printed, never pass/fail)
#   make SAN=1 test   the same suite under AddressSanitizer and UBSan,
#                     built with clang (float-cast-overflow, issue 23)
#   make validate     cost model against measured GPU iteration times
#   make validate-engines  engine profiles calibrated on 12 batches
#   make install PREFIX=DIR   llmsim in DIR/bin, its data in DIR/share/llmsim
#   make fuzz    libFuzzer harnesses of the parsers (issue 19)

CC      ?= cc
PKGS     = gsl libcjson sqlite3 zlib
APT_PKGS = build-essential pkg-config libgsl-dev libcjson-dev libsqlite3-dev \
           zlib1g-dev check gnuplot-nox libopenmpi-dev openmpi-bin python3 git

ifeq ($(FUZZ),1)
# The libFuzzer build (make fuzz, issue 19): the library instrumented for
# coverage with the sanitizers of SAN=1; harnesses in tests/fuzz/.
CC      := clang
APT_PKGS += clang libclang-rt-14-dev
BUILD   := build-fuzz
SANITIZE = address,undefined,float-cast-overflow
SANFLAGS = -O1 -g -fsanitize=$(SANITIZE),fuzzer-no-link \
           -fno-sanitize-recover=all -fno-omit-frame-pointer
else ifeq ($(SAN),1)
# clang, and float-cast-overflow named: GCC's -fsanitize=undefined leaves
# that check out, so casts of out-of-range doubles passed unseen (issue 23).
CC      := clang
APT_PKGS += clang
BUILD   := build-san
SANITIZE = address,undefined,float-cast-overflow
SANFLAGS = -O1 -g -fsanitize=$(SANITIZE) -fno-sanitize-recover=all \
           -fno-omit-frame-pointer
else
BUILD   := build
SANFLAGS = -O2 -g
endif

CFLAGS  += -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -Wshadow \
           -Wstrict-prototypes -MMD -MP -I. -pthread $(SANFLAGS) \
           -DLLMSIM_SRCDIR=\"$(CURDIR)\"
LDFLAGS += $(if $(filter 1,$(SAN)),-fsanitize=$(SANITIZE))

# The package check runs once per make invocation, before anything builds.
DEPS_OK := $(shell pkg-config --exists $(PKGS) check 2>/dev/null && \
                   command -v gnuplot >/dev/null && \
                   command -v mpicc >/dev/null && \
                   command -v python3 >/dev/null && \
                   command -v git >/dev/null && \
                   command -v $(firstword $(CC)) >/dev/null && echo yes)

LIB_SRC  = $(sort $(wildcard base/*.c sim/*.c models/*.c hw/*.c \
                              policies/*.c traces/*.c analysis/*.c run/*.c \
                              cli/*.c))
LIB_SRC := $(filter-out cli/main.c,$(LIB_SRC))
LIB_OBJ  = $(LIB_SRC:%.c=$(BUILD)/%.o)
TEST_SRC = $(sort $(wildcard tests/*.c))
TEST_OBJ = $(TEST_SRC:%.c=$(BUILD)/%.o)

.PHONY: all deps run test bench validate validate-e2e validate-engines clean \
        calib-build mpi install fuzz fuzz-build fuzz-deps
all: deps $(BUILD)/llmsim mpi

deps:
ifneq ($(DEPS_OK),yes)
	@echo "llmsim: installing build dependencies with apt-get"
	@SUDO=$$(command -v sudo >/dev/null && [ "$$(id -u)" != 0 ] && echo sudo); \
	 $$SUDO apt-get update -qq && \
	 DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(APT_PKGS)
endif

LDLIBS = $(shell pkg-config --libs $(PKGS)) -lm -pthread

$(BUILD)/%.o: %.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(shell pkg-config --cflags $(PKGS)) -c $< -o $@

$(BUILD)/libllmsim.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/llmsim: $(BUILD)/cli/main.o $(BUILD)/libllmsim.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/check_llmsim: $(TEST_OBJ) $(BUILD)/libllmsim.a
	$(CC) $(LDFLAGS) -o $@ $^ $(shell pkg-config --libs check) $(LDLIBS)

run: all
	./$(BUILD)/llmsim run configs/default.json
	./$(BUILD)/llmsim plot out/default/results.sqlite --out out/default/plots

# CK_FORK=no keeps ASan's view of the whole process; the suite has no
# test that needs a fork of its own.
# LLMSIM_TEST_STRICT=1: a check skipped for any reason but "no GPU" fails
# the run (the suite ends with the skipped checks and why).
# The GPU programs are compiled (never run) with the tests, so a change
# that breaks them fails where there is no GPU too.
# The reliability suite's fuzz check (test_fuzz_smoke) runs each libFuzzer
# harness of build-fuzz/ for 3 seconds: `make test` installs clang's
# libFuzzer and builds them first, so that nothing is skipped.
test: deps fuzz-deps $(BUILD)/check_llmsim $(BUILD)/llmsim mpi calib-build \
      $(BUILD)/libllmsim_fault.so
	@$(MAKE) --no-print-directory FUZZ=1 SAN= fuzz-build
	LLMSIM_BIN=./$(BUILD)/llmsim LLMSIM_FUZZ_DIR=build-fuzz \
	    LLMSIM_TEST_STRICT=1 $(SAN_ENV) ./$(BUILD)/check_llmsim

# The fault-injection library of the reliability suite (tests/fault/shim.c,
# preloaded into llmsim by the tests; never linked into it).  Built without
# sanitizers; under SAN=1 the suite fails every 5th call, not every one,
# and does not bound the soak's memory (ASan keeps freed memory).
SAN_ENV = $(if $(filter 1,$(SAN)),LLMSIM_FAULT_STRIDE=5 LLMSIM_SANITIZED=1)
$(BUILD)/libllmsim_fault.so: tests/fault/shim.c | deps
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O1 -g -Wall -Wextra -Werror -fPIC -shared -o $@ $< -ldl

# bench: the default replay against the simulation alone and the 1 M
# request case (llmsim bench), a week of traffic at the rate of Azure's
# 2024 conversation trace (27 M requests, read from gzip; the trace is
# generated once into out/bench/), and a 200-point sweep with -j 2.
# Minutes in all: CI runs only `make test`.
BENCH_WEEK_TRACE = out/bench/azure2024_week.csv.gz

$(BENCH_WEEK_TRACE): configs/bench/week_trace.json | $(BUILD)/llmsim
	@mkdir -p $(dir $@)
	./$(BUILD)/llmsim trace gen $< --out $@

bench: all $(BENCH_WEEK_TRACE)
	./$(BUILD)/llmsim bench
	./$(BUILD)/llmsim bench configs/bench/week.json
	@rm -rf out/bench/grid200; t0=$$(date +%s.%N); \
	 ./$(BUILD)/llmsim sweep configs/sweeps/grid200.json -j 2 --quiet \
	     --out out/bench/grid200 && \
	 echo "bench configs/sweeps/grid200.json: 200 points with -j 2 in" \
	      "$$(awk "BEGIN { printf \"%.1f\", $$(date +%s.%N) - $$t0 }") s wall"

validate: all
	./$(BUILD)/llmsim validate

# Engine profiles calibrated on twelve measured batches of each engine
# against the rest (docs/engines.md); exits 1 while a target is missed.
validate-engines: all
	./$(BUILD)/llmsim validate-engines

# Exits 1 when a target is missed, after drawing every overlay (gnuplot).
validate-e2e: all
	@./$(BUILD)/llmsim validate-e2e hw/calib/data/e2e --plots docs/img/e2e; \
	st=$$?; cd docs/img/e2e && for f in *.gp; do gnuplot "$$f" || st=2; done; \
	exit $$st

# CUDA calibration programs: compiled wherever nvcc exists, run only on a GPU.
calib-build:
	@hw/calib/build.sh $(BUILD)/calib
	@if command -v python3 >/dev/null; then \
	    python3 -m py_compile hw/calib/*.py hw/calib/reference/*.py hw/calib/engines/*.py && \
	    echo "calib-build: GPU Python scripts compile"; fi

clean:
	rm -rf build build-san build-fuzz

# ---- make install PREFIX=... (default /usr/local; DESTDIR for packaging) ---
# The installed binary finds its data in PREFIX/share/llmsim: only
# base/paths.c is compiled again with that folder as LLMSIM_SRCDIR, and
# linked ahead of libllmsim.a (whose own paths.o is then not pulled in).
# The data is what llmsim reads at run time: the model and device catalogs,
# the calibration tables, the engine profiles, the example configs and the
# carried traces.
PREFIX  ?= /usr/local
DATADIR  = $(PREFIX)/share/llmsim
INSTALL_DATA = models/catalog hw/catalog hw/calib/data hw/engines configs \
               traces/data

install: all
	@mkdir -p $(BUILD)/install
	$(CC) $(CFLAGS) -ULLMSIM_SRCDIR -DLLMSIM_SRCDIR=\"$(DATADIR)\" \
	    -c base/paths.c -o $(BUILD)/install/paths.o
	$(CC) $(LDFLAGS) -o $(BUILD)/install/llmsim $(BUILD)/cli/main.o \
	    $(BUILD)/install/paths.o $(BUILD)/libllmsim.a $(LDLIBS)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(DATADIR)
	install -m 755 $(BUILD)/install/llmsim $(DESTDIR)$(PREFIX)/bin/llmsim
	for d in $(INSTALL_DATA); do \
	    install -d $(DESTDIR)$(DATADIR)/$$d && \
	    cp -R $$d/. $(DESTDIR)$(DATADIR)/$$d/ || exit 1; done
	@echo "installed $(PREFIX)/bin/llmsim (data: $(DATADIR))"

# ---- Open MPI variant (optional) --------------------------------------------
# $(BUILD)/llmsim-mpi is llmsim with run/sweep_mpi.c compiled by mpicc with
# -DLLMSIM_MPI, so that `mpirun ... llmsim-mpi sweep` shares a sweep's
# points among the ranks.  It is built only where mpicc exists, checked when
# the recipe runs (after deps may have installed it); the plain llmsim never
# links MPI.
MPI_OBJ = $(BUILD)/mpi/run/sweep_mpi.o
# Open MPI's wrapper compiles with $(CC) too (one sanitizer runtime).
MPICC   = OMPI_CC=$(CC) mpicc

mpi: $(BUILD)/cli/main.o $(BUILD)/libllmsim.a
	@if command -v mpicc >/dev/null 2>&1; then \
	   $(MAKE) -q --no-print-directory $(BUILD)/llmsim-mpi || \
	   $(MAKE) --no-print-directory $(BUILD)/llmsim-mpi; \
	 else \
	   echo "llmsim: mpicc not found: skipping $(BUILD)/llmsim-mpi" \
	        "(apt-get install libopenmpi-dev openmpi-bin)"; \
	 fi

$(MPI_OBJ): run/sweep_mpi.c | deps
	@mkdir -p $(dir $@)
	$(MPICC) $(CFLAGS) -DLLMSIM_MPI $(shell pkg-config --cflags $(PKGS)) -c $< -o $@

$(BUILD)/llmsim-mpi: $(BUILD)/cli/main.o $(MPI_OBJ) $(BUILD)/libllmsim.a
	$(MPICC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

-include $(LIB_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(BUILD)/cli/main.d $(MPI_OBJ:.o=.d)

# ---- libFuzzer harnesses (issue 19; docs/reliability.md#fuzzing) ----------
#   make fuzz [FUZZ_SECONDS=N] [FUZZ_ONLY="config step"]
# builds build-fuzz/fuzz_<name> for every tests/fuzz/fuzz_<name>.c, seeds
# build-fuzz/corpus/<name>/ from the shipped configs and traces, replays
# tests/fuzz/regress/, then runs each harness N seconds (default 60);
# fails on any crash, leak or timeout.  `make test` runs each 3 seconds
# (the reliability suite's test_fuzz_smoke).
FUZZ_SECONDS ?= 60
FUZZ_SRC   = $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_NAMES = $(FUZZ_SRC:tests/fuzz/fuzz_%.c=%)
FUZZ_BINS  = $(FUZZ_NAMES:%=$(BUILD)/fuzz_%)

fuzz: fuzz-deps
	@$(MAKE) --no-print-directory FUZZ=1 SAN= fuzz-build
	@tests/fuzz/run.sh build-fuzz $(FUZZ_SECONDS) $(FUZZ_ONLY)

# clang and its libFuzzer, installed with apt-get where missing (looked
# up when the recipe runs, not when make reads this file).
fuzz-deps:
	@if [ ! -f "$$(clang -print-file-name=libclang_rt.fuzzer-x86_64.a \
	       2>/dev/null)" ]; then \
	   echo "llmsim: installing clang and its libFuzzer with apt-get"; \
	   SUDO=$$(command -v sudo >/dev/null && [ "$$(id -u)" != 0 ] && echo sudo); \
	   $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	   $$SUDO apt-get install -y -qq clang libclang-rt-14-dev; fi

fuzz-build: deps $(FUZZ_BINS)
.PRECIOUS: $(BUILD)/tests/fuzz/%.o

$(BUILD)/fuzz_%: $(BUILD)/tests/fuzz/fuzz_%.o $(BUILD)/tests/fuzz/fuzz.o \
                 $(BUILD)/libllmsim.a
	$(CC) -fsanitize=fuzzer,$(SANITIZE) -o $@ $^ $(LDLIBS)

-include $(FUZZ_SRC:%.c=$(BUILD)/%.d) $(BUILD)/tests/fuzz/fuzz.d
