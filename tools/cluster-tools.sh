#!/usr/bin/env bash
# Builds what `make cluster` runs beyond tools/kube-tools.sh's control plane:
# kube-controller-manager, kube-scheduler, kubelet and kube-proxy (the same
# Kubernetes release as tools/kube/apiserver), containerd v2 with its runc shim
# and ctr, and runc, all from the Go module proxy into .cache/bin. Each binary
# is rebuilt only when its wrapper module under tools/kube/ (or its build
# flags) change, so later runs take no time. First build: see
# tools/cluster/README.md for the times measured on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
bin="$PWD/.cache/bin"
mkdir -p "$bin"

if ! command -v go >/dev/null; then
  echo "cluster-tools: 'go' is not on PATH; install Go 1.26 (e.g. /usr/local/go/bin)" >&2
  exit 1
fi

# build NAME MODULE_DIR PACKAGE CGO TAGS [LDFLAGS...]: builds PACKAGE, a `tool`
# of the module in MODULE_DIR, into $bin/NAME unless the stamp beside it
# matches the module's go.mod, go.sum and these flags.
build() {
  local name="$1" dir="tools/kube/$2" pkg="$3" cgo="$4" tags="$5"
  shift 5
  local stamp
  stamp="$( (cat "$dir/go.mod" "$dir/go.sum"; echo "$cgo $tags $*") | sha256sum | cut -d' ' -f1)"
  if [ -x "$bin/$name" ] && [ "$(cat "$bin/$name.stamp" 2>/dev/null)" = "$stamp" ]; then
    return
  fi
  echo "cluster-tools: building $name from $dir (first time: minutes)" >&2
  local started=$SECONDS
  # nice: the build takes every core for minutes; leave room for other work.
  # The temp name keeps an interrupted build from passing as a finished one.
  (cd "$dir" && CGO_ENABLED="$cgo" nice -n 10 \
    go build -trimpath -tags="$tags" -ldflags="-s -w $*" -o "$bin/$name.partial" "$pkg")
  mv "$bin/$name.partial" "$bin/$name"
  echo "$stamp" >"$bin/$name.stamp"
  echo "cluster-tools: built $name in $((SECONDS - started))s" >&2
}

# Kubernetes: a module build has no git tag, so stamp the release (unstamped,
# kubelet reports v0.0.0-master and `kubectl version` fails on it).
kube_version="$(awk '$1 == "k8s.io/kubernetes" { print $2 }' tools/kube/kubelet/go.mod)"
if [[ ! "$kube_version" =~ ^v1\.([0-9]+)\. ]]; then
  echo "cluster-tools: tools/kube/kubelet requires k8s.io/kubernetes '$kube_version', not a v1.X.Y release; rerun tools/cluster/gen-replaces.sh" >&2
  exit 1
fi
apiserver_version="$(awk '$1 == "k8s.io/kubernetes" { print $2 }' tools/kube/apiserver/go.mod)"
if [ "$apiserver_version" != "$kube_version" ]; then
  echo "cluster-tools: kubelet module pins $kube_version but tools/kube/apiserver pins $apiserver_version; rerun tools/cluster/gen-replaces.sh $apiserver_version" >&2
  exit 1
fi
kube_flags=()
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_flags+=(
    "-X $pkg.gitVersion=$kube_version"
    "-X $pkg.gitMajor=1"
    "-X $pkg.gitMinor=${BASH_REMATCH[1]}"
    "-X $pkg.gitTreeState=clean"
  )
done
build kube-controller-manager controller-manager k8s.io/kubernetes/cmd/kube-controller-manager 0 "" "${kube_flags[@]}"
build kube-scheduler scheduler k8s.io/kubernetes/cmd/kube-scheduler 0 "" "${kube_flags[@]}"
build kubelet kubelet k8s.io/kubernetes/cmd/kubelet 0 "" "${kube_flags[@]}"
build kube-proxy kube-proxy k8s.io/kubernetes/cmd/kube-proxy 0 "" "${kube_flags[@]}"

# containerd v2: static, without the btrfs snapshotter (needs cgo and headers)
# as containerd's own static release builds do.
containerd_version="$(awk '$1 == "github.com/containerd/containerd/v2" { print $2 }' tools/kube/containerd/go.mod)"
containerd_flags=("-X github.com/containerd/containerd/v2/version.Version=$containerd_version")
for cmd in containerd containerd-shim-runc-v2 ctr; do
  build "$cmd" containerd "github.com/containerd/containerd/v2/cmd/$cmd" 0 "no_btrfs" "${containerd_flags[@]}"
done

# runc needs cgo (its nsenter is C) and, with the seccomp tag, libseccomp-dev.
if ! pkg-config --exists libseccomp 2>/dev/null; then
  echo "cluster-tools: runc needs libseccomp-dev, pkgconf and gcc: run tools/install-deps.sh" >&2
  exit 1
fi
build runc runc github.com/opencontainers/runc 1 "seccomp urfave_cli_no_docs"
