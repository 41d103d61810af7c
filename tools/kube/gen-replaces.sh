#!/usr/bin/env bash
# Pins the wrapper modules that build from k8s.io/kubernetes (tools/kube/apiserver
# and tools/kube/kubectl) to one Kubernetes release:
# usage `tools/kube/gen-replaces.sh v1.34.10`.
#
# Why: k8s.io/kubernetes requires its staging modules (k8s.io/api,
# k8s.io/apiserver, ...) at the placeholder version v0.0.0 and resolves them
# with `replace => ./staging/src/...`. Replace directives only apply in the
# main module, so a module that depends on k8s.io/kubernetes must redirect each
# staging module to its published twin, v0.X.Y for release v1.X.Y. The list is
# read from that release's own go.mod so a version bump can't miss one.
set -euo pipefail
kube_version="${1:?usage: $0 v1.MINOR.PATCH (a k8s.io/kubernetes release)}"
if [[ ! "$kube_version" =~ ^v1\.([0-9]+)\.([0-9]+)$ ]]; then
  echo "gen-replaces: '$kube_version' is not a release version like v1.34.10" >&2
  exit 2
fi
staging_version="v0.${BASH_REMATCH[1]}.${BASH_REMATCH[2]}"
cd "$(dirname "$0")"

# replaced_modules GOMOD NEW_PATH_REGEX: the modules GOMOD replaces with a
# path matching the regex, in either the block or the one-line form.
replaced_modules() {
  awk -v want="$2" '
    $1 == "replace" { $1 = ""; $0 = $0 }
    $2 == "=>" && $3 ~ want { print $1 }' "$1"
}

# `go mod download` reports a failure inside its JSON, so look for GoMod there.
download="$(go mod download -json "k8s.io/kubernetes@$kube_version" || true)"
kube_gomod="$(sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p' <<<"$download")"
if [ -z "$kube_gomod" ]; then
  echo "gen-replaces: cannot fetch k8s.io/kubernetes@$kube_version from the Go module proxy; pick a version that 'go mod download' can verify:" >&2
  echo "$download" >&2
  exit 1
fi
mapfile -t staging < <(replaced_modules "$kube_gomod" '^\./staging/src/')
if [ "${#staging[@]}" -eq 0 ]; then
  echo "gen-replaces: found no ./staging/src replaces in $kube_gomod; has k8s.io/kubernetes changed its layout?" >&2
  exit 1
fi

# pin DIR: rewrites DIR/go.mod for the release; a failure leaves it as it was.
pin() {
  local dir="$1"
  (
    cd "$dir"
    # Start from no k8s.io replaces so modules dropped from staging disappear too.
    edits=(-require="k8s.io/kubernetes@$kube_version")
    while read -r old; do
      edits+=(-dropreplace="$old")
    done < <(replaced_modules go.mod '^k8s\.io/')
    for mod in "${staging[@]}"; do
      edits+=(-replace="$mod=$mod@$staging_version")
    done
    # A failed pin leaves the module as it was.
    backup="$(mktemp -d)"
    cp go.mod go.sum "$backup"
    restore() {
      cp "$backup/go.mod" "$backup/go.sum" .
      echo "gen-replaces: left $dir/go.mod as it was; every staging module must be fetchable at $staging_version" >&2
    }
    trap 'rm -rf "$backup"' EXIT
    trap restore ERR
    go mod edit "${edits[@]}"
    go mod tidy
    echo "gen-replaces: $dir: k8s.io/kubernetes $kube_version with ${#staging[@]} staging modules at $staging_version" >&2
  )
}
pin apiserver
pin kubectl
