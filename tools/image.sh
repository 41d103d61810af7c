#!/usr/bin/env bash
# Builds the weft image from Dockerfile (`make image-docker`; `make image` is
# the offline build, tools/image/build.ts) and the executables in dist/ (run
# `make build` first) with whichever container builder works here: docker
# with a reachable engine, podman, or buildah. The image name and tag are read
# from manifests/weft.yaml, the one place they are set, so the image built is
# the one `kubectl apply -f manifests/` deploys.
set -euo pipefail
cd "$(dirname "$0")/.."

for f in dist/weft dist/weftd; do
  if [ ! -x "$f" ]; then
    echo "image: $f is missing: run \`make build\` first" >&2
    exit 1
  fi
done

# The image named at the &image anchor in manifests/weft.yaml.
image="$(sed -n 's/^ *image: &image \([^ ]*\) *$/\1/p' manifests/weft.yaml | head -n 1)"
if [ -z "$image" ]; then
  echo "image: manifests/weft.yaml has no \`image: &image NAME:TAG\` line: restore it on the install-cni container" >&2
  exit 1
fi

# The first builder that can build: a docker client alone is not enough, its
# engine must answer.
builder=()
problems=()
if ! command -v docker >/dev/null; then
  problems+=("docker: not installed")
elif ! docker info >/dev/null 2>&1; then
  problems+=("docker: the client is installed but no engine answers at ${DOCKER_HOST:-unix:///var/run/docker.sock}")
else
  builder=(docker build)
fi
if [ "${#builder[@]}" -eq 0 ]; then
  if command -v podman >/dev/null; then
    builder=(podman build)
  elif command -v buildah >/dev/null; then
    problems+=("podman: not installed")
    builder=(buildah build)
  else
    problems+=("podman: not installed" "buildah: not installed")
  fi
fi
if [ "${#builder[@]}" -eq 0 ]; then
  {
    echo "image: no container builder available to build $image:"
    printf '  %s\n' "${problems[@]}"
    echo "fix: start a Docker engine (or set DOCKER_HOST to one), or install a daemonless builder: apt-get install podman (or buildah)"
  } >&2
  exit 1
fi

echo "image: ${builder[*]} --tag $image" >&2
"${builder[@]}" --tag "$image" --file Dockerfile .
echo "image: built $image; push it where your nodes pull from, or set another name at the &image anchor in manifests/weft.yaml" >&2
