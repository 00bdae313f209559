# Wraps the common commands; the build itself is CMake.
#   make demo    install missing packages, build, train the default model on mnist10k
#   make test    build and run the whole test suite
#   make double  build and test with suri_real = double
#   make asan    build and test under AddressSanitizer + UndefinedBehaviorSanitizer
BUILD ?= build
JOBS ?= 2
CMAKE_FLAGS ?=

.PHONY: all build demo test double asan setup install clean

all: build

setup:
	scripts/setup

build:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

# runs/demo belongs to the demo: a previous demo run is replaced.
demo: setup build
	rm -rf runs/demo
	$(BUILD)/suri train --out runs/demo

test: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

double:
	$(MAKE) test BUILD=build-double CMAKE_FLAGS="-DSURI_DOUBLE=ON $(CMAKE_FLAGS)"

asan:
	$(MAKE) test BUILD=build-asan CMAKE_FLAGS="-DSURI_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS)"

install: build
	cmake --install $(BUILD)

clean:
	rm -rf build build-double build-asan
