# weft — GNU Make build. `make` builds libweft.a, examples, tests and
# micro-benchmarks into build/ (or build-asan/, build-tsan/ with SAN=...).
#
#   make                  release-ish build (-O2 -g), build/
#   make SAN=address      ASan+UBSan build, build-asan/
#   make SAN=thread       TSan build, build-tsan/
#   make test             deps, all builds, every test, "N passed, N failed"
#   make check            the one-minute loop: plain build, unit tests on both
#                         I/O backends, no PostgreSQL/downloads/sanitizers
#   make test T=chan      one test file (T=chan:NAME: one test); also make check T=...
#   make run              deps, build, run the flagship: weft fleet on 127.0.0.1:8080
#                         (SQLite in build/run/fleet) with 200 simulated vehicles
#   make bench            the articles' Go-vs-Rust table on this machine: bench/results/report.{md,html}
#                         (QUICK=1 or make bench-quick: <= 10 min; make bench-report: from the committed files); make bench-rt: the runtime rows
#   make tfb              TechEmpower app on 127.0.0.1:8080 (PORT=...), local PostgreSQL
#   make bench-db         the arena's database rows (TFB db/queries/fortunes/updates), the full
#                         pool sweep 2,4,8,16 (make bench: 4,8); BASELINE_BIN=old tfb: old vs new
#   make bench-fleet      weft fleet ingest: Teltonika and OsmAnd fixes/s, server CPU per fix
#   make bench-ws         WebSocket echo, fan-out and idle memory vs Go and Rust peers
#   make format           clang-format every C file
#   WERROR=1              add -Werror (CI sets it)
#   MALLOC=system         apps on glibc malloc instead of mimalloc (docs/db.md, Allocator)

CC      ?= gcc
SAN     ?=
WERROR  ?= $(if $(CI),1,)

ifeq ($(SAN),)
  B := build
  SANFLAGS :=
  OPT := -O2 -D_FORTIFY_SOURCE=2
else ifeq ($(SAN),address)
  B := build-asan
  SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined
  OPT := -O1
else ifeq ($(SAN),thread)
  B := build-tsan
  SANFLAGS := -fsanitize=thread
  OPT := -O1
else
  $(error SAN must be empty, address or thread)
endif

CFLAGS  := -std=c11 -D_GNU_SOURCE $(OPT) -g -Wall -Wextra -Wshadow -Wno-unused-parameter \
           -fno-omit-frame-pointer -pthread -Iinclude -Isrc $(SANFLAGS) \
           $(if $(WERROR),-Werror,) $(EXTRA_CFLAGS)
LDFLAGS := -pthread -rdynamic $(SANFLAGS)
# libpq is loaded at run time (dlopen, src/db/pg.c): only its headers here;
# sqlite3 is linked only into programs that use it (--as-needed)
PGINC   := $(shell pg_config --includedir 2>/dev/null || echo /usr/include/postgresql)
CFLAGS  += -I$(PGINC)
LDLIBS  := -Wl,--as-needed -lsqlite3 -luring -lz -lcrypto -ldl -lm
# The apps (the deployables: TFB, later the fleet platform) allocate through
# mimalloc (Debian libmimalloc2.0) instead of glibc malloc, as the Rust peers
# of the arena do: libpq's 2 KB PGresult blocks are above glibc's tcache limit
# and went through _int_malloc/_int_free (docs/db.md). It must precede libc,
# hence --no-as-needed. Sanitizer builds keep the sanitizer's allocator;
# MALLOC=system opts out.
MALLOC  ?= mimalloc
APP_LDLIBS :=
ifeq ($(MALLOC)$(SANFLAGS),mimalloc)
  APP_LDLIBS := -Wl,--no-as-needed -lmimalloc
endif

# ---- what the build needs from Debian: a cheap check, not apt ---------------
# Before building, one preprocessor run per header (tens of ms; skipped for
# clean/format/deps/help and in sub-makes). When one is missing, plain `make`
# does what `make run`/`make test` do: scripts/deps.sh installs what is
# missing (apt, sudo when not root); if the header is still missing after
# that, make stops and says exactly what to run. DEPS_AUTO=0: only say it.
# `make check-deps` runs the check alone (DEP_HEADERS="x.h" simulates a
# missing header: tests/scripts/make_deps.sh).
DEP_HEADERS ?= liburing.h sqlite3.h libpq-fe.h
DEPS_AUTO   ?= 1
dep_pkg = $(or $(DEP_PKG_$(1)),$(if $(filter liburing.h,$(1)),liburing-dev,$(if $(filter sqlite3.h,$(1)),libsqlite3-dev,$(if $(filter libpq-fe.h,$(1)),libpq-dev,<the package with $(1)>))))
dep_missing = $(shell for h in $(DEP_HEADERS); do printf '\043include <%s>\n' "$$h" | \
                $(CC) -I$(PGINC) -E -x c - >/dev/null 2>&1 || echo "$$h"; done)
DEP_GOALS := $(filter-out clean format deps help,$(or $(MAKECMDGOALS),all))
ifneq ($(DEP_GOALS),)
ifeq ($(MAKELEVEL),0)
  DEP_MISSING := $(dep_missing)
  ifneq ($(DEP_MISSING),)
    ifeq ($(DEPS_AUTO),1)
      $(info make: missing $(DEP_MISSING); installing what is missing with scripts/deps.sh)
      DEP_RC := $(shell bash scripts/deps.sh >&2; echo $$?)
      DEP_MISSING := $(dep_missing)
    endif
  endif
  ifneq ($(DEP_MISSING),)
    $(error $(DEP_MISSING) not found (Debian: $(foreach h,$(DEP_MISSING),$(call dep_pkg,$(h)))). \
      Run: sudo bash scripts/deps.sh (installs every missing package), or: sudo apt-get install \
      $(foreach h,$(DEP_MISSING),$(call dep_pkg,$(h))))
  endif
endif
endif
.PHONY: check-deps
check-deps:
	@echo "make: build dependencies present ($(DEP_HEADERS))"

LIB_SRC  := $(wildcard src/base/*.c src/rt/*.c src/http/*.c src/json/*.c src/db/*.c)
LIB_ASM  := $(wildcard src/rt/*.S)
LIB_OBJ  := $(LIB_SRC:%.c=$(B)/%.o) $(LIB_ASM:%.S=$(B)/%.o)
LIB      := $(B)/libweft.a

EX_SRC   := $(wildcard examples/*.c)
EX_BIN   := $(EX_SRC:examples/%.c=$(B)/examples/%)
# tests/: unit/ (one file per module), protocol/ (real server processes over
# real sockets; proto.c and notes_checks.c are their shared helpers),
# stress/ (tests/README.md)
PROTO_HELP_SRC := tests/protocol/proto.c tests/protocol/notes_checks.c
PROTO_HELP_OBJ := $(PROTO_HELP_SRC:%.c=$(B)/%.o)
UNIT_SRC  := $(wildcard tests/unit/*.c)
UNIT_BIN  := $(UNIT_SRC:tests/%.c=$(B)/tests/%)
PROTO_SRC := $(filter-out $(PROTO_HELP_SRC),$(wildcard tests/protocol/*.c))
PROTO_BIN := $(PROTO_SRC:tests/%.c=$(B)/tests/%)
TEST_SRC := $(UNIT_SRC) $(wildcard tests/stress/*.c) $(PROTO_SRC)
TEST_BIN := $(TEST_SRC:tests/%.c=$(B)/tests/%)
APP_SRC  := $(wildcard apps/*/main.c)
APP_BIN  := $(APP_SRC:apps/%/main.c=$(B)/apps/%)
BENCH_SRC:= $(wildcard bench/micro/*.c)
BENCH_BIN:= $(BENCH_SRC:bench/micro/%.c=$(B)/bench/%)

.PHONY: all lib examples apps tests benches test check run bench bench-rt bench-http bench-json bench-db bench-fleet bench-dashboard bench-ws tfb bench-quick bench-binsearch bench-build \
        format clean deps
all: lib examples apps tests benches
apps: $(APP_BIN)
lib: $(LIB)
examples: $(EX_BIN)
tests: $(TEST_BIN)
benches: $(BENCH_BIN)

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@
$(B)/%.o: %.S
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/examples/%: $(B)/examples/%.o $(LIB)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)
# apps/<name>/*.c -> $(B)/apps/<name> (objects under $(B)/appobj/<name>/)
$(B)/appobj/%.o: apps/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@
.SECONDEXPANSION:
# Apps link dynamically: libpq is dlopen()ed by src/db/pg.c, which a static
# glibc binary cannot do safely (docs/db.md: idle RSS 2.0 MB instead of 1.1).
app_objs = $(patsubst apps/%.c,$(B)/appobj/%.o,$(wildcard apps/$(1)/*.c))
$(B)/apps/%: $$(call app_objs,$$*) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(APP_LDLIBS) $(LDLIBS)
# tests/unit/fleet_*.c test the fleet app's pure parts (decoders, geometry,
# config): they link the app's objects except its main(); so do the fleet
# scenarios of tests/stress (fleet_live_lag.c: readers that lag for seconds)
FLEET_OBJ = $(patsubst apps/%.c,$(B)/appobj/%.o,$(filter-out apps/fleet/main.c,$(wildcard apps/fleet/*.c)))
$(B)/tests/unit/fleet_%: $(B)/tests/unit/fleet_%.o $(B)/tests/test_main.o $(B)/tests/test_util.o $$(FLEET_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)
$(B)/tests/stress/fleet_%: $(B)/tests/stress/fleet_%.o $(B)/tests/test_main.o $(B)/tests/test_util.o $$(FLEET_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)
$(B)/tests/unit/fleet_%.o $(B)/tests/stress/fleet_%.o: CFLAGS += -Iapps/fleet
# the OpenAPI document is built into the app (.incbin in api_openapi.c)
$(B)/appobj/fleet/api_openapi.o: apps/fleet/openapi.json
# weft fleet hashes passwords (argon2id) and API tokens with libsodium
# (Debian libsodium-dev, in scripts/deps.sh): the app and its tests link it
$(B)/apps/fleet $(B)/tests/unit/fleet_% $(B)/tests/stress/fleet_%: LDLIBS += -lsodium
# fleet-sim (apps/fleet-sim/, the simulator) uses three of the fleet app's
# pure files (teltonika.c's CRC, isotime.c, fix.c), named here so the rule
# holds with or without apps/fleet/main.c; tests/unit/fleet_sim_*.c (and
# tests/stress/fleet_sim_*.c) link both apps' objects except the two main()s
# (these rules beat fleet_% above: shorter stem)
FLEET_SIM_OBJ = $(patsubst apps/%.c,$(B)/appobj/%.o,$(filter-out apps/fleet-sim/main.c,$(wildcard apps/fleet-sim/*.c)))
$(B)/apps/fleet-sim: $$(call app_objs,fleet-sim) $(patsubst %,$(B)/appobj/fleet/%.o,teltonika isotime fix) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(APP_LDLIBS) $(LDLIBS)
$(B)/appobj/fleet-sim/%.o: CFLAGS += -Iapps/fleet
$(B)/tests/unit/fleet_sim_%: $(B)/tests/unit/fleet_sim_%.o $(B)/tests/test_main.o $(B)/tests/test_util.o $$(FLEET_SIM_OBJ) $$(FLEET_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)
$(B)/tests/stress/fleet_sim_%: $(B)/tests/stress/fleet_sim_%.o $(B)/tests/test_main.o $(B)/tests/test_util.o $$(FLEET_SIM_OBJ) $$(FLEET_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)
$(B)/tests/unit/fleet_sim_%.o $(B)/tests/stress/fleet_sim_%.o: CFLAGS += -Iapps/fleet-sim
$(B)/tests/%: $(B)/tests/%.o $(B)/tests/test_main.o $(B)/tests/test_util.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)
# a protocol test runs the server binaries of its own build tree
$(B)/tests/protocol/%: $(B)/tests/protocol/%.o $(PROTO_HELP_OBJ) $(B)/tests/test_main.o \
                       $(B)/tests/test_util.o $(LIB) | $(EX_BIN) $(APP_BIN)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)
$(B)/tests/%.o: CFLAGS += -Itests
$(B)/tests/protocol/%.o: CFLAGS += -DTEST_APP_MALLOC=\"$(MALLOC)\"
$(B)/tests/test_main.o: CFLAGS += -Itests
$(B)/tests/test_util.o: CFLAGS += -Itests
$(B)/bench/%: $(B)/bench/micro/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

deps:
	@bash scripts/deps.sh

# T=file or T=file:test runs one test file or one test (tests/README.md)
test: deps
	@T='$(T)' bash scripts/test.sh
check:
	@T='$(T)' bash scripts/check.sh

run: deps
	@$(MAKE) --no-print-directory $(B)/apps/fleet $(B)/apps/fleet-sim
	@bash scripts/run.sh

# ---- make bench: the articles' Go-vs-Rust table (bench/run-report.sh) -----
# bench/results/report.md and report.html; QUICK=1 or bench-quick: <= 10 min budget (docs/arena.md)
bench: deps
	@bash scripts/deps.sh bench
	-@$(MAKE) --no-print-directory benches
	@QUICK=$(QUICK) bash bench/run-report.sh
bench-quick:
	@$(MAKE) --no-print-directory bench QUICK=1
bench-binsearch: deps
	-@$(MAKE) --no-print-directory benches
	@bash bench/run-binsearch.sh
bench-build:
	@bash bench/run-build.sh
# the report again from the committed result files, no benchmark run (docs/arena.md)
.PHONY: bench-report
bench-report:
	@python3 bench/tools/report.py --from-results
# ---- end of make bench ------------------------------------------------------
bench-rt: deps
	-@$(MAKE) --no-print-directory benches
	@bash bench/run-rt.sh
bench-http:
	@bash scripts/deps.sh bench
	@bash bench/run-http.sh
bench-json: deps
	@bash scripts/deps.sh bench
	@bash bench/run-json.sh
# issue 11 part J in one command: PHASES=ingest,history,memory,live by default
# (about 10 min), then the table of every J figure the run measured
# (bench/tools/fleet_j.py; bench/run-fleet.sh's head has the knobs)
bench-fleet: deps
	@bash bench/run-fleet.sh
# ---- bench-tracking / bench-fleet-live (bench/run-tracking.sh) ----
# the arena's live-tracking hot path: weft, Go, Rust and weft fleet (issue 13
# part D; QUICK=1 for a run of <= 3 min); bench-fleet-live: weft fleet alone,
# 10,000 devices a fix a second to 500 viewers (issue 11 part J), the live
# phase of bench-fleet (its settings are in bench/run-fleet.sh; OUT= names the
# results); (live-tail) BASELINE_BIN=path of an older build/apps/fleet: old
# and new alternate in one run
.PHONY: bench-tracking bench-fleet-live
# (live-deflate) bench-tracking's viewers offer no permessage-deflate unless DEFLATE=on
# (Chromium's offer: weft's tracking app would agree it, coder/websocket and axum decline it)
bench-tracking: deps
	@DEFLATE=$${DEFLATE:-off} bash bench/run-tracking.sh
bench-fleet-live: deps
	@PHASES=live LIVE_OUT=$${OUT:-bench/results/fleet-live-$$(date +%F)} bash bench/run-fleet.sh
# bench/run-db.sh's knobs pass through (BENCH_DB_POOLS, BENCH_TESTS, BENCH_ROUNDS, BASELINE_BIN;
# docs/arena.md, "The database sweep")
bench-db:
	@bash scripts/deps.sh bench
	@bash bench/run-db.sh
# the dashboard's quality bar in Chromium (issue 12; bench/dashboard/run.mjs;
# QUICK=1, VEHICLES=, ROUNDS=, SECONDS= knobs)
bench-dashboard: deps
	@$(MAKE) --no-print-directory $(B)/apps/fleet $(B)/apps/fleet-sim
	@cd apps/fleet/web && { [ -f node_modules/.package-lock.json ] && [ ! package-lock.json -nt node_modules/.package-lock.json ]; } || npm ci --no-audit --no-fund
	@node apps/fleet/web/tools/precompress.mjs
	@node bench/dashboard/run.mjs
# ---- bench-ws: the WebSocket benchmark's weft server and load generator
# (bench/ws/*.c -> $(B)/bench/ws/*), built by `make benches` too
WSB_BIN := $(patsubst bench/ws/%.c,$(B)/bench/ws/%,$(wildcard bench/ws/*.c))
benches: $(WSB_BIN)
$(B)/bench/ws/%: $(B)/bench/ws/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)
bench-ws: deps
	@$(MAKE) --no-print-directory $(WSB_BIN)
	@bash bench/run-ws.sh

# TechEmpower app on 127.0.0.1:$(PORT) (PORT=8080 by default), on the
# PostgreSQL in WEFT_TFB_DB or a local one it starts (scripts/tfb.sh)
PORT ?= 8080
tfb: deps
	@$(MAKE) --no-print-directory apps
	@PORT=$(PORT) bash scripts/tfb.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-asan build-tsan build-fuzz

-include $(shell find $(B) -name "*.d" 2>/dev/null)

# ---- fuzzing (clang + libFuzzer, ASan+UBSan) --------------------------------
# make fuzz-build        build every fuzz/<name>.c into build-fuzz/<name>
# make fuzz FUZZ_TIME=60 run each target that long, growing fuzz/corpus/<name>
FUZZ_CC   ?= clang
FUZZ_TIME ?= 60
FZ        := build-fuzz
FUZZ_FLAGS := -std=c11 -D_GNU_SOURCE -O1 -g -Iinclude -Isrc -I$(PGINC) -fno-omit-frame-pointer -pthread \
              -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_OBJ  := $(LIB_SRC:%.c=$(FZ)/%.o) $(LIB_ASM:%.S=$(FZ)/%.o)
FUZZ_BIN  := $(patsubst fuzz/%.c,$(FZ)/%,$(wildcard fuzz/*.c))
.PHONY: fuzz-build fuzz
$(FZ)/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@
$(FZ)/%.o: %.S
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -c $< -o $@
$(FZ)/libweft.a: $(FUZZ_OBJ)
	@rm -f $@
	ar rcs $@ $^
# fuzz/fleet_sim_watch.c and fleet_sim_frames.c compile apps/fleet-sim/watch.c, which includes the
# fleet app's isotime.h
$(FZ)/fleet_sim_watch $(FZ)/fleet_sim_frames: FUZZ_FLAGS += -Iapps/fleet
# (hygiene) a fuzz target is compiled and linked in one step; -MMD records what
# it includes (apps' .c files, headers) in $@.d, so a change there rebuilds it.
# FZ is set here, after the include of $(B)'s .d files above: the fuzz tree's
# own .d files are included here (tests/scripts/make_fuzz_deps.sh)
$(FZ)/%: fuzz/%.c $(FZ)/libweft.a
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -MMD -MP -MF $@.d -MT $@ $< $(FZ)/libweft.a -o $@ $(LDLIBS)
-include $(shell find $(FZ) -name "*.d" 2>/dev/null)
fuzz-build: $(FUZZ_BIN)
fuzz: deps fuzz-build
	@for f in $(FUZZ_BIN); do n=$$(basename $$f); mkdir -p fuzz/corpus/$$n; \
	  echo "== fuzzing $$n for $(FUZZ_TIME) s"; \
	  $$f -max_total_time=$(FUZZ_TIME) -print_final_stats=1 fuzz/corpus/$$n || exit 1; done

# ---- the GC case (issue 13 C; docs/gc-case.md) --------------------------------
# tests/unit/readstates.c tests apps/readstates' store, parsers and routes
# (all of the app but its main())
$(B)/tests/unit/readstates: $(B)/tests/unit/readstates.o $(B)/tests/test_main.o $(B)/tests/test_util.o \
                            $(B)/appobj/readstates/readstates.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)
$(B)/tests/unit/readstates.o: CFLAGS += -Iapps/readstates
.PHONY: bench-gc
bench-gc: deps
	@$(MAKE) --no-print-directory $(B)/apps/readstates
	@bash bench/run-gc.sh
