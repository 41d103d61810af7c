#!/usr/bin/env bash
# The weft demo on one machine: two pods (network namespaces) wired to a node
# bridge by the weft plugin through libcni's cnitool, pinging each other and
# the host, then torn down — also on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
unset NODE_EXTRA_CA_CERTS

id=$$
work=$(mktemp -d /tmp/weft-demo.XXXXXX)
bridge="weftdemo0"
pods=("weft-demo-a-$id" "weft-demo-b-$id")
cnitool="$PWD/.cache/bin/cnitool"
export NETCONFPATH="$work/conf" CNI_PATH="$PWD/dist" CNI_CACHE_DIR="$work/cache"

cleanup() {
  for p in "${pods[@]}"; do
    [ -e "/var/run/netns/$p" ] && "$cnitool" del demo "/var/run/netns/$p" >/dev/null 2>&1 || true
    ip netns del "$p" 2>/dev/null || true
  done
  ip link del "$bridge" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

mkdir -p "$NETCONFPATH"
cat > "$NETCONFPATH/10-demo.conflist" <<JSON
{
  "cniVersion": "1.1.0",
  "name": "demo",
  "plugins": [
    { "type": "weft", "bridge": "$bridge",
      "ipam": { "ranges": [[{ "subnet": "10.250.0.0/24" }]], "dataDir": "$work/ipam" } }
  ]
}
JSON
step "network config ($NETCONFPATH/10-demo.conflist)"
cat "$NETCONFPATH/10-demo.conflist"

declare -A ips
for p in "${pods[@]}"; do
  ip netns add "$p"
  step "ADD $p"
  result=$("$cnitool" add demo "/var/run/netns/$p")
  echo "$result"
  ips[$p]=$(echo "$result" | sed -n 's/.*"address": "\([0-9.]*\)\/.*/\1/p')
done

step "node bridge $bridge and its ports"
ip -br addr show dev "$bridge"
ip -br link show master "$bridge"
step "IPAM store: one file per address"
for f in "$work/ipam/demo/"*; do printf '%s: %s\n' "$(basename "$f")" "$(tr '\r\n' '  ' < "$f")"; done

a=${pods[0]}; b=${pods[1]}
step "$a (${ips[$a]}) pings $b (${ips[$b]})"
ip netns exec "$a" ping -c 3 -i 0.2 "${ips[$b]}"
step "$a pings its gateway on the host bridge (10.250.0.1)"
ip netns exec "$a" ping -c 2 -i 0.2 10.250.0.1
step "the host pings $b (${ips[$b]})"
ping -c 2 -i 0.2 "${ips[$b]}"

step "CHECK and DEL"
for p in "${pods[@]}"; do
  "$cnitool" check demo "/var/run/netns/$p" && echo "CHECK $p: ok"
  "$cnitool" del demo "/var/run/netns/$p" && echo "DEL $p: ok"
done
echo "reservations left: $(ls "$work/ipam/demo" | grep -vc last_reserved || true)"
step "done; removing namespaces and the bridge"
