#!/usr/bin/env bash
# Pins the cluster's Kubernetes wrapper modules (tools/kube/controller-manager,
# scheduler, kubelet, kube-proxy) to the release tools/kube/apiserver pins, with
# the same staging-module replaces. Run it after tools/kube/gen-replaces.sh:
#
#   tools/kube/gen-replaces.sh v1.34.N && tools/cluster/gen-replaces.sh
#
# tools/cluster-tools.sh refuses to build when the two disagree. Stay on 1.34:
# kubelet 1.35 refuses cgroup v1 hosts like this one.
set -euo pipefail
cd "$(dirname "$0")/../kube"
export PATH="/usr/local/go/bin:$PATH"

kube_version="$(awk '$1 == "k8s.io/kubernetes" { print $2 }' apiserver/go.mod)"
mapfile -t replaces < <(awk '$1 == "replace" && $3 == "=>" { print $2 "=" $4 "@" $5 }' apiserver/go.mod)
if [ -z "$kube_version" ] || [ "${#replaces[@]}" -eq 0 ]; then
  echo "gen-replaces: cannot read the release and replaces from tools/kube/apiserver/go.mod" >&2
  exit 1
fi

for dir in controller-manager scheduler kubelet kube-proxy; do
  (
    cd "$dir"
    backup="$(mktemp -d)"
    cp go.mod go.sum "$backup"
    trap 'rm -rf "$backup"' EXIT
    trap 'cp "$backup/go.mod" "$backup/go.sum" .; echo "gen-replaces: left $dir/go.mod as it was" >&2' ERR
    edits=(-require="k8s.io/kubernetes@$kube_version")
    while read -r old; do edits+=(-dropreplace="$old"); done < <(awk '$1 == "replace" && $2 ~ /^k8s\.io\// { print $2 }' go.mod)
    for r in "${replaces[@]}"; do edits+=(-replace="$r"); done
    go mod edit "${edits[@]}"
    go mod tidy
    echo "gen-replaces: $dir: k8s.io/kubernetes $kube_version" >&2
  )
done
