#!/usr/bin/env bash
# The Debian packages weft's build, tests and demo need on a fresh Debian 12
# machine (root). Node comes from npm (package.json pins it), Go-built tools
# from tools/go-tools.sh. Safe to re-run: it skips what is there.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"

packages=(iproute2 time iptables nftables iputils-ping util-linux containernetworking-plugins make openssl socat containerd runc iperf3 ethtool libseccomp-dev pkgconf gcc libc6-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "apt-get install ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

command -v go >/dev/null || { echo "go is not installed: install Go 1.22 or newer (https://go.dev/doc/install)" >&2; exit 1; }
command -v npm >/dev/null || { echo "npm is not installed: apt-get install npm" >&2; exit 1; }
