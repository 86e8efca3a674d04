# SPDX-License-Identifier: Apache-2.0
# A thin front for meson/ninja: `make`, `make check`, `make demo`, `make bench`, `make fuzz`.
BUILD ?= build
MESON_OPTS ?= --buildtype=debugoptimized

.PHONY: all deps check demo bench fuzz clean
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

clean:
	rm -rf $(BUILD)
