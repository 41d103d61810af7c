# weft: every target installs what it needs from the pinned npm packages.
BIN := $(CURDIR)/node_modules/.bin
NODE := $(BIN)/node
# node_modules/.bin stays off PATH: it holds an unrelated `nft` (from
# @vercel/nft) that would shadow nftables' for the plugin and the tests.

SOURCES := $(shell find cmd src -name '*.ts') tools/build.ts package-lock.json

.PHONY: all deps build test typecheck lint format unit integration bench-cni bench-overlay flannel bench-dataplane conformance demo go-tools kube-tools pause-image image image-docker toolbox-image e2e-tools cluster-e2e clean cluster cluster-down cluster-tools cluster-test cluster-demo e2e fuzz

all: build

# Debian packages the kernel-facing parts need (root; skips what is there).
deps:
	tools/install-deps.sh

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

# The plugin on Bun, weftd on Node (tools/build.ts says why).
dist/weft: node_modules/.installed $(SOURCES)
	$(NODE) tools/build.ts weft

dist/weftd: node_modules/.installed $(SOURCES)
	$(NODE) tools/build.ts weftd

# For make bench-cni: the plugin on each runtime, and each runtime's floor.
dist/weft-node dist/weft-bun dist/weft-bun-ip: dist/weft-%: node_modules/.installed $(SOURCES)
	$(NODE) tools/build.ts weft-$*

dist/cni-floor-node dist/cni-floor-bun: dist/cni-floor-%: node_modules/.installed bench/floor.ts tools/build.ts
	$(NODE) tools/build.ts floor-$*

dist/cni-floor-bun-kernel: node_modules/.installed bench/floor-kernel.ts tools/build.ts
	$(NODE) tools/build.ts floor-bun-kernel

build: dist/weft dist/weftd

go-tools:
	tools/go-tools.sh

# etcd, kube-apiserver and kubectl built from the Go module proxy, for the
# tests that run weftd and the manifests against a real API server (cached in
# .cache/bin).
kube-tools:
	tools/kube-tools.sh

# The pod sandbox image for the containerd tests, built offline (.cache/pause).
pause-image: node_modules/.installed
	$(NODE) tools/pause/build.ts

typecheck: node_modules/.installed
	$(NODE) $(BIN)/tsc --noEmit

# Biome, the formatter and linter, over the whole tree (biome.json says
# what); `make format` applies its fixes.
lint: node_modules/.installed
	$(BIN)/biome check .

format: node_modules/.installed
	$(BIN)/biome check --write .

# Unit tests are pure; integration tests need root, netns, iproute2 and the
# built plugin. `make test` runs both and the type check.
test: deps typecheck lint build go-tools kube-tools pause-image
	testbed/keep-host-tables.sh $(NODE) $(BIN)/ava $(AVA_FLAGS)

unit: node_modules/.installed
	$(NODE) $(BIN)/ava 'test/unit/**/*.test.ts'

integration: deps build go-tools kube-tools pause-image
	testbed/keep-host-tables.sh $(NODE) $(BIN)/ava 'test/integration/**/*.test.ts'

# Property-based fuzzing of the built plugin (test/fuzz): FUZZ_RUNS cases per
# property (default 2000) from a random seed, printed first so a failure can
# be replayed with FUZZ_SEED=<seed>. `make test` runs a few hundred from a
# fixed seed.
FUZZ_RUNS ?= 2000
fuzz: deps build
	@seed=$${FUZZ_SEED:-$$(od -An -N4 -td4 /dev/urandom | tr -d ' ')}; \
	echo "FUZZ_SEED=$$seed FUZZ_RUNS=$(FUZZ_RUNS)"; \
	FUZZ_SEED=$$seed FUZZ_RUNS=$(FUZZ_RUNS) testbed/keep-host-tables.sh $(NODE) $(BIN)/ava $(AVA_FLAGS) test/fuzz/plugin.test.ts

# weft on Bun and on Node against the reference plugins and the floors of
# Bun, Node and Deno (tools/deno.sh installs it); BENCH_ARGS as for the other
# benches (e.g. '--iterations 20').
bench-cni: deps dist/weft-bun dist/weft-bun-ip dist/weft-node dist/cni-floor-bun dist/cni-floor-bun-kernel dist/cni-floor-node go-tools
	tools/deno.sh
	env -u NODE_EXTRA_CA_CERTS $(NODE) bench/cni.ts $(BENCH_ARGS)

# flanneld v0.28.10 built from the Go module proxy (.cache/bin), the reference
# bench-overlay measures weftd against; not needed by the tests.
flannel:
	tools/flannel.sh

# weftd against flannel: convergence, initial sync and RSS at 100/1000/5000 Nodes.
bench-overlay: deps build kube-tools flannel
	env -u NODE_EXTRA_CA_CERTS $(NODE) bench/overlay-convergence.ts $(BENCH_ARGS)

# iperf3 pod to pod through weft against the same path built by hand.
bench-dataplane: deps build go-tools kube-tools
	env -u NODE_EXTRA_CA_CERTS $(NODE) bench/overlay-dataplane.ts $(BENCH_ARGS)

# The CNI conformance suite, against weft by default or any plugin:
#   make conformance PLUGIN_CONF=my.conflist CNI_PATH=/opt/cni/bin
PLUGIN_CONF ?= conformance/examples/weft.conflist
CNI_PATH ?= $(CURDIR)/dist
conformance: deps build go-tools
	$(NODE) conformance/run.ts --conf $(PLUGIN_CONF) --cni-path $(CNI_PATH)

# Three nodes with weftd and two pods each on this machine, pinging across nodes.
demo: deps build go-tools kube-tools
	env -u NODE_EXTRA_CA_CERTS $(NODE) tools/demo.ts

# A real Kubernetes cluster on this machine: control plane on the host, three
# nodes (namespaces) each with containerd v2, runc, kubelet and kube-proxy.
# Stays up until `make cluster-down`; a second `make cluster` reuses it.
#   make cluster CLUSTER_CNI=reference   # Debian's bridge plugin as pod network
#   make cluster CLUSTER_CNI=weft        # weft, installed from manifests/ with kubectl
#   make cluster CLUSTER_STACK=dual      # IPv4 and IPv6 everywhere (default ipv4)
# See tools/cluster/README.md.
CLUSTER_CNI ?= none
CLUSTER_NODES ?= 3
CLUSTER_STACK ?= ipv4
cluster-tools: deps
	tools/cluster-tools.sh

# CLUSTER_CNI=weft also builds the weft image (make image), imports it into
# every node and installs weft with kubectl apply -k tools/cluster/weft.
cluster: deps kube-tools cluster-tools pause-image $(if $(filter weft,$(CLUSTER_CNI)),image)
	env -u NODE_EXTRA_CA_CERTS $(NODE) tools/cluster/cluster.ts up --cni=$(CLUSTER_CNI) --nodes=$(CLUSTER_NODES) --stack=$(CLUSTER_STACK)

cluster-down: node_modules/.installed
	env -u NODE_EXTRA_CA_CERTS $(NODE) tools/cluster/cluster.ts down

# test/cluster: the reference cluster with a pod on every node; weft
# installed with kubectl (pod to pod, Services, Node deletion, uninstall); and
# weft with traffic (image by digest and securityContext, NAT, weftd killed,
# rolling update, a node stopped and started); and weft in a dual-stack
# cluster. Each file brings its own cluster up and tears it down (about 6 min
# in all).
cluster-test: deps kube-tools cluster-tools pause-image image toolbox-image
	env -u NODE_EXTRA_CA_CERTS $(NODE) $(BIN)/ava --config tools/cluster/ava.config.mjs $(AVA_FLAGS)

# The weft image, offline and without a container engine: Debian's iproute2,
# iptables, nftables (.debs from apt) plus dist/weft and dist/weftd, written
# as an OCI archive (.cache/image/weft-<version>.oci.tar, named as at the
# &image anchor in manifests/weft.yaml) for `ctr images import`, `skopeo copy
# oci-archive:...` or `podman load`. See tools/image/build.ts.
image: build
	nice -n 10 $(NODE) tools/image/build.ts weft

# The same image from the Dockerfile, with docker (with an engine), podman or
# buildah (see tools/image.sh).
image-docker: build
	tools/image.sh

# busybox (sh, ping, wget, httpd) for the cluster tests: localhost/weft/toolbox:1.
toolbox-image: node_modules/.installed
	$(NODE) tools/image/build.ts toolbox

# The trimmed upstream e2e binary (networking tests only), agnhost and CoreDNS
# from the Go module proxy, and their offline images (tools/kube/e2e/build.sh;
# cached in .cache/bin and .cache/image).
e2e-tools: node_modules/.installed
	tools/kube/e2e/build.sh

# Upstream e2e networking tests against weft in a fresh `make cluster
# CLUSTER_CNI=weft`, removed afterwards (E2E_FOCUS=regex to choose others).
# CLUSTER_STACK=dual: a dual-stack cluster and the [Feature:IPv6DualStack] specs.
# Results print per test; logs in .cache/e2e/<stack>/.
cluster-e2e: deps kube-tools cluster-tools pause-image image e2e-tools
	env -u NODE_EXTRA_CA_CERTS $(NODE) tools/cluster/e2e.ts --stack=$(CLUSTER_STACK)

# cluster-test, then cluster-e2e for IPv4 and for dual stack, each even when
# one before failed (.ci/run runs this); no cluster is left behind either way.
e2e:
	status=0; $(MAKE) cluster-test || status=1; $(MAKE) cluster-e2e CLUSTER_STACK=ipv4 || status=1; \
	$(MAKE) cluster-e2e CLUSTER_STACK=dual || status=1; $(MAKE) cluster-down; exit $$status

# weft in the real cluster: installed with kubectl, a pod on each node pinging
# the others, `kubectl get pods -o wide`, `weftd status`; then all removed.
cluster-demo: deps kube-tools cluster-tools pause-image image toolbox-image
	env -u NODE_EXTRA_CA_CERTS $(NODE) tools/cluster/demo.ts

clean:
	rm -rf dist .cache/bin .cache/pause .cache/image
