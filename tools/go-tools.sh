#!/usr/bin/env bash
# Installs the Go-built tools the tests and benchmarks drive into .cache/bin,
# once: later runs reuse them. cnitool is libcni's front end; crictl talks CRI
# to containerd as the kubelet does.
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

# `go install sigs.k8s.io/cri-tools/cmd/crictl@v1.34.0` cannot work through this
# module proxy: the checksum database has no entries for cri-tools v1.34.0 and
# its k8s.io pre-release dependencies. So the module is fetched without the
# checksum database and built inside its own directory, where its go.sum
# verifies every dependency.
if [ ! -x "$bin/crictl" ]; then
  GONOSUMDB=sigs.k8s.io/cri-tools go mod download sigs.k8s.io/cri-tools@v1.34.0
  (cd "$(go env GOMODCACHE)/sigs.k8s.io/cri-tools@v1.34.0" && install_tool crictl ./cmd/crictl)
fi
