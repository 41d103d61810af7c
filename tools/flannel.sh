#!/usr/bin/env bash
# Builds flanneld v0.28.10, the reference `make bench-overlay` measures weftd
# against, from the Go module proxy into .cache/bin (see tools/flannel/README.md).
# Rebuilt only when the wrapper module or its stub changes.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$PWD/.cache/bin"
dir=tools/flannel
mkdir -p "$bin"

if ! command -v go >/dev/null; then
  echo "flannel: 'go' is not on PATH; install Go 1.26 (e.g. /usr/local/go/bin)" >&2
  exit 1
fi

stamp="$(cat "$dir/go.mod" "$dir/go.sum" "$dir"/tencent-vpc-stub/go.mod "$dir"/tencent-vpc-stub/*/*.go | sha256sum | cut -d' ' -f1)"
if [ -x "$bin/flanneld" ] && [ "$(cat "$bin/flanneld.stamp" 2>/dev/null)" = "$stamp" ]; then
  exit 0
fi
version="$(awk '$1 == "github.com/flannel-io/flannel" { print $2 }' "$dir/go.mod")"
echo "flannel: building flanneld $version from $dir (first time: about a minute once the modules are downloaded)" >&2
started=$SECONDS
# cgo as in flannel's own amd64 build: its udp backend, linked in by main.go,
# is C. nice: leave the cores to other work. The temp name keeps an
# interrupted build from passing as a finished one.
(cd "$dir" && CGO_ENABLED=1 nice -n 10 go build -trimpath \
  -ldflags="-s -w -X github.com/flannel-io/flannel/pkg/version.Version=$version" \
  -o "$bin/flanneld.partial" github.com/flannel-io/flannel)
mv "$bin/flanneld.partial" "$bin/flanneld"
echo "$stamp" >"$bin/flanneld.stamp"
echo "flannel: built flanneld in $((SECONDS - started))s" >&2
