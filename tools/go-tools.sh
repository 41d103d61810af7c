#!/usr/bin/env bash
# Installs the Go-built tools the tests and benchmarks drive (cnitool, the real
# libcni front end) into .cache/bin, once: later runs reuse them.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$PWD/.cache/bin"
mkdir -p "$bin"
install_tool() { # name module@version
  if [ -x "$bin/$1" ]; then return; fi
  echo "go install $2 -> $bin/$1" >&2
  GOBIN="$bin" GOFLAGS=-mod=mod go install "$2"
}
install_tool cnitool github.com/containernetworking/cni/cnitool@v1.3.0
