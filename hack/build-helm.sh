#!/usr/bin/env bash
# Builds helm at the version pinned in hack/tools/go.mod into bin/helm (or $1). The
# ldflags are those of helm's own release build: without them helm reports version
# "v3.22" and assumes Kubernetes 1.20 for `helm template` and `helm lint`.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-$PWD/bin/helm}
version() { go -C hack/tools list -m -f '{{.Version}}' "$1"; }
helm_version=$(version helm.sh/helm/v3)
# Kubernetes 1.N for client-go v0.N.x, as helm's Makefile derives it.
kube_minor=$(version k8s.io/client-go | sed -E 's/^v0\.([0-9]+)\..*/\1/')
ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$helm_version"
for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
  ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$kube_minor"
done
echo "building helm $helm_version (the first build takes a few minutes)" >&2
CGO_ENABLED=0 go -C hack/tools build -trimpath -ldflags "$ldflags" -o "$out" helm.sh/helm/v3/cmd/helm
