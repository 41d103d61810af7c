#!/usr/bin/env bash
# Builds the control plane the integration tests run weftd against (etcd,
# kube-apiserver) and the kubectl that applies the manifests, from the Go
# module proxy into .cache/bin. Each binary is
# rebuilt only when its wrapper module under tools/kube/ changes, so later runs
# take no time. The first build downloads ~115 MB of modules and compiles a
# few thousand packages: about 5 minutes on 2 cores (see tools/kube/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$PWD/.cache/bin"
mkdir -p "$bin"

if ! command -v go >/dev/null; then
  echo "kube-tools: 'go' is not on PATH; install Go 1.26 (e.g. /usr/local/go/bin)" >&2
  exit 1
fi

# build NAME MODULE_DIR PACKAGE [LDFLAGS...]: builds PACKAGE, a `tool` of the
# module in MODULE_DIR, into $bin/NAME unless the stamp beside it matches the
# module's go.mod and go.sum.
build() {
  local name="$1" dir="tools/kube/$2" pkg="$3"
  shift 3
  local stamp
  stamp="$(cat "$dir/go.mod" "$dir/go.sum" | sha256sum | cut -d' ' -f1)"
  if [ -x "$bin/$name" ] && [ "$(cat "$bin/$name.stamp" 2>/dev/null)" = "$stamp" ]; then
    return
  fi
  echo "kube-tools: building $name from $dir (first time: several minutes)" >&2
  local started=$SECONDS
  # nice: the build takes every core for minutes; leave room for other work.
  # The temp name keeps an interrupted build from passing as a finished one.
  (cd "$dir" && CGO_ENABLED=0 nice -n 10 \
    go build -trimpath -ldflags="-s -w $*" -o "$bin/$name.partial" "$pkg")
  mv "$bin/$name.partial" "$bin/$name"
  echo "$stamp" >"$bin/$name.stamp"
  echo "kube-tools: built $name in $((SECONDS - started))s" >&2
}

build etcd etcd go.etcd.io/etcd/server/v3

# A module build has no git tag to stamp, so tell the apiserver its release;
# otherwise /version reports v0.0.0-master.
kube_version="$(awk '$1 == "k8s.io/kubernetes" { print $2 }' tools/kube/apiserver/go.mod)"
if [[ ! "$kube_version" =~ ^v1\.([0-9]+)\. ]]; then
  echo "kube-tools: tools/kube/apiserver requires k8s.io/kubernetes '$kube_version', not a v1.X.Y release; rerun tools/kube/gen-replaces.sh" >&2
  exit 1
fi
version_flags=()
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  version_flags+=(
    "-X $pkg.gitVersion=$kube_version"
    "-X $pkg.gitMajor=1"
    "-X $pkg.gitMinor=${BASH_REMATCH[1]}"
    "-X $pkg.gitTreeState=clean"
  )
done
build kube-apiserver apiserver k8s.io/kubernetes/cmd/kube-apiserver "${version_flags[@]}"
build kubectl kubectl k8s.io/kubernetes/cmd/kubectl "${version_flags[@]}"
