#!/usr/bin/env bash
# Installs suri into a temporary prefix, then builds examples/mlp_mnist.c against it twice:
# through pkg-config (suri.pc) and through CMake's find_package(suri); runs one epoch.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:?usage: check.sh BUILD_DIR}
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
libdir=$(find "$prefix" -name suri.pc -printf '%h\n' | head -1)
export PKG_CONFIG_PATH="$libdir"
cc -std=c11 -O2 "$root/examples/mlp_mnist.c" $(pkg-config --cflags suri) \
  $(pkg-config --libs suri) -Wl,-rpath,"$(pkg-config --variable=libdir suri)" -o "$prefix/mlp_pc"
SURI_DATA_DIR="$prefix/share/suri" "$prefix/mlp_pc" 1 | tail -1
cmake -S "$root/tests/install" -B "$prefix/consumer" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$prefix/consumer" >/dev/null
SURI_DATA_DIR="$prefix/share/suri" "$prefix/consumer/mlp_mnist" 1 | tail -1
echo "install check: pkg-config and find_package consumers built and ran"
