#!/usr/bin/env bash
# Builds what `make cluster-e2e` runs, from the Go module proxy, into
# .cache/bin: e2e.test (this module: the upstream e2e framework with only the
# networking tests) and agnhost (../agnhost), then the offline agnhost image
# (tools/image/build.ts) named exactly as the tests expect it. Each binary is
# rebuilt only when its module or build flags change (the stamp beside it, as
# tools/cluster-tools.sh does); likewise CoreDNS and its image. Prints the image
# archives' paths, one a line.
set -euo pipefail
cd "$(dirname "$0")/../../.."
export PATH="/usr/local/go/bin:$PATH"
bin="$PWD/.cache/bin"
mkdir -p "$bin"

# build NAME MODULE_DIR KIND PACKAGE [LDFLAGS...]; KIND is build or test (go test -c).
build() {
  local name="$1" dir="tools/kube/$2" kind="$3" pkg="$4"
  shift 4
  local stamp
  stamp="$( (cat "$dir/go.mod" "$dir/go.sum" "$dir"/*.go 2>/dev/null; echo "$kind $*") | sha256sum | cut -d' ' -f1)"
  if [ -x "$bin/$name" ] && [ "$(cat "$bin/$name.stamp" 2>/dev/null)" = "$stamp" ]; then
    return
  fi
  echo "e2e-tools: building $name from $dir (first time: minutes)" >&2
  local started=$SECONDS
  if [ "$kind" = test ]; then
    (cd "$dir" && CGO_ENABLED=0 nice -n 10 go test -c -trimpath -ldflags="-s -w $*" -o "$bin/$name.partial" "$pkg")
  else
    (cd "$dir" && CGO_ENABLED=0 nice -n 10 go build -trimpath -ldflags="-s -w $*" -o "$bin/$name.partial" "$pkg")
  fi
  mv "$bin/$name.partial" "$bin/$name"
  echo "$stamp" >"$bin/$name.stamp"
  echo "e2e-tools: built $name in $((SECONDS - started))s" >&2
}

kube_version="$(awk '$1 == "k8s.io/kubernetes" { print $2 }' tools/kube/e2e/go.mod)"
flags=()
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  flags+=("-X $pkg.gitVersion=$kube_version" "-X $pkg.gitMajor=1" "-X $pkg.gitMinor=$(echo "$kube_version" | cut -d. -f2)" "-X $pkg.gitTreeState=clean")
done
build e2e.test e2e test . "${flags[@]}"
build agnhost agnhost build k8s.io/kubernetes/test/images/agnhost

# The image the tests will ask for: registry + name + version from the
# release's test/utils/image/manifest.go (promoterE2eRegistry is
# registry.k8s.io/e2e-test-images unless KUBE_TEST_REPO_LIST says otherwise).
src="$(cd tools/kube/e2e && go list -m -f '{{.Dir}}' k8s.io/kubernetes)"
version="$(sed -n 's/.*configs\[Agnhost\] = Config{list.PromoterE2eRegistry, "agnhost", "\([^"]*\)"}.*/\1/p' "$src/test/utils/image/manifest.go")"
if [ -z "$version" ]; then
  echo "e2e-tools: no agnhost version in $src/test/utils/image/manifest.go" >&2
  exit 1
fi
node_modules/.bin/node tools/image/build.ts agnhost "registry.k8s.io/e2e-test-images/agnhost:$version" "$bin/agnhost"

# CoreDNS (../coredns) for cluster DNS: tests that reach a Service by name.
coredns_version="$(awk '$1 == "github.com/coredns/coredns" { print $2 }' tools/kube/coredns/go.mod)"
build coredns coredns build github.com/coredns/coredns
node_modules/.bin/node tools/image/build.ts static "localhost/weft/coredns:${coredns_version#v}" "$bin/coredns"
