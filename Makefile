# SPDX-License-Identifier: Apache-2.0
# A thin front for meson/ninja: `make`, `make check`, `make demo`, `make bench`, `make fuzz`,
# `make install` (PREFIX, default /usr/local, and DESTDIR honoured: libferry.so, ferry.h, ferry.pc,
# the ferry binary, man pages, bash completion).
BUILD ?= build
PREFIX ?= /usr/local
MESON_OPTS ?= --buildtype=debugoptimized

.PHONY: all deps check demo bench fuzz clean install
all: $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(BUILD)/build.ninja:
	meson setup $(BUILD) $(MESON_OPTS)

deps:
	bash scripts/install-deps.sh

check: deps
	$(MAKE) all
	FERRY_STRICT=1 ./tests/run.sh --build $(BUILD)

demo: deps
	$(MAKE) all
	./scripts/demo.sh $(BUILD)

bench: deps
	$(MAKE) all
	./bench/run.sh $(BUILD)

fuzz: deps
	$(MAKE) all
	./tests/fuzz/run.sh $(BUILD) 60

install: all
	@if [ "$$(meson introspect --buildoptions $(BUILD) | python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"] == "prefix"][0])')" != "$(PREFIX)" ]; then \
		meson configure $(BUILD) -Dprefix=$(PREFIX) && ninja -C $(BUILD); fi
	DESTDIR=$(DESTDIR) meson install -C $(BUILD) --no-rebuild --quiet

clean:
	rm -rf $(BUILD)
