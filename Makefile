# weft: every target installs what it needs from the pinned npm packages.
BIN := $(CURDIR)/node_modules/.bin
NODE := $(BIN)/node
# node_modules/.bin stays off PATH: it holds an unrelated `nft` (from
# @vercel/nft) that would shadow nftables' for the plugin and the tests.

SOURCES := $(shell find cmd src -name '*.ts') tools/build.ts package-lock.json

.PHONY: all deps build test typecheck unit integration bench-cni bench-overlay bench-dataplane conformance demo go-tools kube-tools pause-image image clean cluster cluster-down cluster-tools cluster-test fuzz

all: build

# Debian packages the kernel-facing parts need (root; skips what is there).
deps:
	tools/install-deps.sh

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

dist/weft: node_modules/.installed $(SOURCES)
	$(NODE) tools/build.ts weft

dist/weftd: node_modules/.installed $(SOURCES)
	$(NODE) tools/build.ts weftd

dist/cni-floor: node_modules/.installed bench/floor.ts
	$(NODE) tools/build.ts floor

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

# Unit tests are pure; integration tests need root, netns, iproute2 and the
# built plugin. `make test` runs both and the type check.
test: deps typecheck build go-tools kube-tools pause-image
	$(NODE) $(BIN)/ava $(AVA_FLAGS)

unit: node_modules/.installed
	$(NODE) $(BIN)/ava 'test/unit/**/*.test.ts'

integration: deps build go-tools kube-tools pause-image
	$(NODE) $(BIN)/ava 'test/integration/**/*.test.ts'

# Property-based fuzzing of the built plugin (test/fuzz): FUZZ_RUNS cases per
# property (default 2000) from a random seed, printed first so a failure can
# be replayed with FUZZ_SEED=<seed>. `make test` runs a few hundred from a
# fixed seed.
FUZZ_RUNS ?= 2000
fuzz: deps build
	@seed=$${FUZZ_SEED:-$$(od -An -N4 -td4 /dev/urandom | tr -d ' ')}; \
	echo "FUZZ_SEED=$$seed FUZZ_RUNS=$(FUZZ_RUNS)"; \
	FUZZ_SEED=$$seed FUZZ_RUNS=$(FUZZ_RUNS) $(NODE) $(BIN)/ava $(AVA_FLAGS) test/fuzz/plugin.test.ts

bench-cni: deps build dist/cni-floor go-tools
	env -u NODE_EXTRA_CA_CERTS $(NODE) bench/cni.ts

# weftd convergence, initial sync and RSS at 100/1000/5000 Nodes.
bench-overlay: deps build kube-tools
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
# See tools/cluster/README.md.
CLUSTER_CNI ?= none
CLUSTER_NODES ?= 3
cluster-tools: deps
	tools/cluster-tools.sh

cluster: deps kube-tools cluster-tools pause-image
	env -u NODE_EXTRA_CA_CERTS $(NODE) tools/cluster/cluster.ts up --cni=$(CLUSTER_CNI) --nodes=$(CLUSTER_NODES)

cluster-down: node_modules/.installed
	env -u NODE_EXTRA_CA_CERTS $(NODE) tools/cluster/cluster.ts down

# Brings a cluster up, runs a pod on every node, tears it all down (minutes).
cluster-test: deps kube-tools cluster-tools pause-image
	env -u NODE_EXTRA_CA_CERTS $(NODE) $(BIN)/ava --config tools/cluster/ava.config.mjs

# The weft image (needs docker with an engine, podman or buildah; see tools/image.sh).
image: build
	tools/image.sh

clean:
	rm -rf dist .cache/bin .cache/pause
