#!/usr/bin/env bash
# Installs Deno, pinned, from its npm package into .cache/deno, for the floor
# `make bench-cni` measures it by (bench/cni-plugins.ts). Only the bench needs
# it, so it stays out of package.json and `npm ci`: 92 MB that no test uses.
set -euo pipefail
cd "$(dirname "$0")/.."
version=2.9.6
dir="$PWD/.cache/deno"
bin="$dir/node_modules/@deno/linux-x64-glibc/deno"
if [ -x "$bin" ] && [ "$("$bin" --version 2>/dev/null | awk 'NR == 1 { print $2 }')" = "$version" ]; then
  exit 0
fi
echo "deno: installing deno $version from npm into $dir" >&2
mkdir -p "$dir"
# --ignore-scripts: the package's install script only links the binary that
# its platform package already holds.
npm install --prefix "$dir" --no-save --no-audit --no-fund --ignore-scripts "deno@$version" >&2
"$bin" --version >/dev/null
