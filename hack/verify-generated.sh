#!/usr/bin/env bash
# Regenerates the generated files and fails if they differ from those in the working
# tree: the committed files must be what `make generate manifests` writes. On failure
# the tree holds the regenerated files, ready to commit.
set -euo pipefail
cd "$(dirname "$0")/.."
paths=(api config/crd config/rbac config/instancetypes charts/koala/crds charts/koala/files)
before=$(mktemp -d)
trap 'rm -rf "$before"' EXIT
for p in "${paths[@]}"; do
  mkdir -p "$before/$(dirname "$p")"
  cp -r "$p" "$before/$p"
done
make --no-print-directory generate manifests >/dev/null
stale=0
for p in "${paths[@]}"; do
  if ! diff -r "$before/$p" "$p" >/dev/null 2>&1; then
    stale=1
  fi
done
if (( stale )); then
  echo "Generated files were out of date; they have been regenerated. Review and commit:" >&2
  for p in "${paths[@]}"; do diff -ruN "$before/$p" "$p" >&2 || true; done
  exit 1
fi
echo "generated files are up to date"
