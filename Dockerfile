# The weft image: the CNI plugin (installed onto each node by
# `weftd install-cni`) and weftd, the per-node daemon. Build it with
# tools/image.sh after `make build`; it copies the two single executables from
# dist/, so nothing is compiled here.
#
# The base by digest, so a rebuild starts from the same bytes: the multi-arch
# index Docker Official Images published for debian:bookworm-slim (Debian 12)
# on 2026-08-03 (docker-library/repo-info, repos/debian/remote/bookworm-slim.md;
# not checked against the registry from here, which cannot reach it). Bump it
# with `docker buildx imagetools inspect debian:bookworm-slim` (the top
# Digest line). `make image` builds the same contents offline from .debs.
FROM debian:bookworm-slim@sha256:abd67ffcfa541b485a3dff59865ab629aa048a6c613e639d36e7456b0b229241

# weftd programs the node through these tools: iproute2 (`ip`, `bridge`) for
# the VXLAN device, routes, neighbour and FDB entries; iptables (Debian 12's
# defaults to the nft backend, and brings ip6tables) for the masquerade
# chains; nftables so that `kubectl exec` into the pod can inspect (or remove)
# the plugin's `inet weft-pod-masq` table on the node. libstdc++6: the
# executables are the Node runtime, which links it (slim has it today only
# because apt needs it). DEBIAN_FRONTEND only for this step: no prompts, and
# nothing of it left in the image's environment.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      iproute2 iptables nftables libstdc++6 \
 && rm -rf /var/lib/apt/lists/*

# make build leaves both executable (0755); COPY keeps the mode.
COPY dist/weft /usr/local/bin/weft
COPY dist/weftd /usr/local/bin/weftd

# No USER: weftd runs as root, though with NET_ADMIN as its only capability
# (see manifests/weft.yaml). A non-root user would get no capabilities in a
# Kubernetes pod (it sets no ambient capabilities), could not write the
# root-owned /run/weft and /run/xtables.lock on the host, and file
# capabilities on weftd would not reach the `ip` and `iptables` it runs.
ENTRYPOINT ["/usr/local/bin/weftd"]
CMD ["run"]
