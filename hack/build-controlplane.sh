#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager and etcd from source through the Go
# module proxy, because no prebuilt Kubernetes binaries can be downloaded here. The
# binaries are cached under bin/controlplane/<version>/ so the (several-minute) first
# build happens once; a cache that lacks one of them (made before it was added) is
# completed, not rebuilt.
#
#   hack/build-controlplane.sh            # build if missing, print the directory
#
# Progress goes to stderr; the only line on stdout is the directory holding the binaries,
# so callers can do: KUBEBUILDER_ASSETS=$(hack/build-controlplane.sh)
set -euo pipefail

KUBE_VERSION=${KUBE_VERSION:-v1.37.2}
# The staging modules (k8s.io/api, k8s.io/apiserver, ...) of Kubernetes v1.X.Y are v0.X.Y.
STAGING_VERSION=v0.${KUBE_VERSION#v1.}
ETCD_VERSION=${ETCD_VERSION:-v3.7.3}

root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/bin/controlplane/kube-${KUBE_VERSION}-etcd-${ETCD_VERSION}"
work="$root/bin/.controlplane-build"

say() { printf '[controlplane] %s\n' "$*" >&2; }

if [[ -x "$out/kube-apiserver" && -x "$out/kube-controller-manager" && -x "$out/etcd" ]]; then
  echo "$out"
  exit 0
fi

mkdir -p "$out" "$work"
missing=()
for bin in etcd kube-apiserver kube-controller-manager; do [[ -x "$out/$bin" ]] || missing+=("$bin"); done
say "building ${missing[*]} (Kubernetes ${KUBE_VERSION}, etcd ${ETCD_VERSION}) from source (first time only: about 5 minutes per binary on 2 cores; cached in ${out#$root/})"

# progress turns `go build -v` output (one line per package compiled) into a line every
# 10% on stderr; other lines (errors) are passed through. Packages already in Go's build
# cache are not printed, so a partly cached build finishes early.
progress() {
  local name=$1 total=$2 n=0 step
  step=$(( total / 10 )); [[ $step -gt 0 ]] || step=1
  while IFS= read -r line; do
    case "$line" in
      *" "*|"#"*) printf '%s\n' "$line" >&2 ;;
      *) n=$((n + 1)); if (( n % step == 0 )); then say "$name: $n/$total packages compiled ($(( 100 * n / total ))%)"; fi ;;
    esac
  done
}

# A throw-away module per binary, so that their dependency graphs never meet ours.
# build_kube builds k8s.io/kubernetes/cmd/<name> (kube-apiserver, kube-controller-manager).
build_kube() {
  local name=$1 pkg="k8s.io/kubernetes/cmd/$1"
  local dir="$work/$name"
  mkdir -p "$dir"
  local gomod
  gomod=$(go mod download -json "k8s.io/kubernetes@${KUBE_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
  {
    echo "module koala.local/build/$name"
    echo
    echo "go $(go env GOVERSION | sed -E 's/^go([0-9]+\.[0-9]+).*/\1/')"
    echo
    echo "require k8s.io/kubernetes ${KUBE_VERSION}"
    echo
    # k8s.io/kubernetes replaces every staging module with a local path; point each at
    # its published version instead.
    sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#replace \1 => \1 '"${STAGING_VERSION}"'#p' "$gomod"
  } >"$dir/go.mod"
  printf '//go:build tools\n\npackage tools\n\nimport _ "%s"\n' "$pkg" >"$dir/tools.go"
  say "$name: resolving modules"
  (cd "$dir" && GOFLAGS=-mod=mod go mod tidy >/dev/null 2>&1 || GOFLAGS=-mod=mod go get "${pkg}@${KUBE_VERSION}" >&2)
  local total
  total=$(cd "$dir" && GOFLAGS=-mod=mod go list -deps "$pkg" | wc -l)
  say "$name: compiling ${total} packages (the long part)"
  (cd "$dir" && GOFLAGS=-mod=mod CGO_ENABLED=0 go build -v -trimpath -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=${KUBE_VERSION} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "$KUBE_VERSION" | cut -d. -f2)" -o "$out/$name.tmp.$$" "$pkg" 2>&1) | progress "$name" "$total"
  # The temporary name is per process: two builds started at once (two test packages
  # on a fresh checkout) must not move each other's file away.
  mv "$out/$name.tmp.$$" "$out/$name"
  say "$name: done"
}

build_etcd() {
  local dir="$work/etcd"
  mkdir -p "$dir"
  cat >"$dir/go.mod" <<GOMOD
module koala.local/build/etcd

go $(go env GOVERSION | sed -E 's/^go([0-9]+\.[0-9]+).*/\1/')

require go.etcd.io/etcd/server/v3 ${ETCD_VERSION}
GOMOD
  cat >"$dir/main.go" <<'GO'
// Command etcd is etcd's own server entry point, built from the published module.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  say "etcd: resolving modules"
  (cd "$dir" && GOFLAGS=-mod=mod go mod tidy >&2)
  local total
  total=$(cd "$dir" && GOFLAGS=-mod=mod go list -deps . | wc -l)
  say "etcd: compiling ${total} packages"
  (cd "$dir" && GOFLAGS=-mod=mod CGO_ENABLED=0 go build -v -trimpath -ldflags "-s -w" -o "$out/etcd.tmp.$$" . 2>&1) | progress etcd "$total"
  mv "$out/etcd.tmp.$$" "$out/etcd"
  say "etcd: done"
}

start=$(date +%s)
[[ -x "$out/etcd" ]] || build_etcd
[[ -x "$out/kube-apiserver" ]] || build_kube kube-apiserver
[[ -x "$out/kube-controller-manager" ]] || build_kube kube-controller-manager
say "control plane ready in $(( $(date +%s) - start ))s"
echo "$out"
