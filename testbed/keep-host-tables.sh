#!/usr/bin/env bash
# Runs a test command, then removes the node-wide nft tables the weft plugin
# makes on its first ADD in the host's namespace (per-pod anti-spoofing,
# per-pod masquerade) if they were not there before it: many test files
# share them while they run, so no single test can remove them. Also after
# a failure or Ctrl-C. A table that was there before (weft installed on this
# machine) is left alone.
set -uo pipefail
tables=("bridge weft-antispoof" "inet weft-pod-masq")
declare -A before=()
for t in "${tables[@]}"; do
  # shellcheck disable=SC2086 # "family name" are two words on purpose
  if nft list table $t >/dev/null 2>&1; then before[$t]=1; fi
done
cleanup() {
  for t in "${tables[@]}"; do
    # shellcheck disable=SC2086
    [[ -n "${before[$t]:-}" ]] || nft delete table $t 2>/dev/null || true
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM
"$@"
