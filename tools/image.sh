#!/usr/bin/env bash
# Builds the weft image from Dockerfile and the executables in dist/ (run
# `make build` first) with whichever container builder works here: docker
# with a reachable engine, podman, or buildah. The image name and tag are read
# from manifests/kustomization.yaml, the one place they are set, so the image
# built is the one `kubectl apply -k manifests/` deploys.
set -euo pipefail
cd "$(dirname "$0")/.."

for f in dist/weft dist/weftd; do
  if [ ! -x "$f" ]; then
    echo "image: $f is missing: run \`make build\` first" >&2
    exit 1
  fi
done

# newName and newTag of the `name: weft` entry under images:.
image="$(awk '
  /^images:/ { in_images = 1; next }
  /^[^ #-]/ { in_images = 0 }
  in_images && $1 == "-" && $2 == "name:" { current = $3 }
  in_images && current == "weft" && $1 == "newName:" { name = $2 }
  in_images && current == "weft" && $1 == "newTag:" { gsub(/"/, "", $2); tag = $2 }
  END { if (name != "" && tag != "") print name ":" tag }' manifests/kustomization.yaml)"
if [ -z "$image" ]; then
  echo "image: manifests/kustomization.yaml has no images: entry for weft with newName and newTag" >&2
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
echo "image: built $image; push it where your nodes pull from, or set another name in manifests/kustomization.yaml" >&2
