#!/usr/bin/env bash
# Runs every fuzz target of the repository for a short time each (default 10s).
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-10s}
grep -rl --include='*_test.go' '^func Fuzz' internal | xargs -n1 dirname | sort -u | while read -r dir; do
  for target in $(grep -h '^func Fuzz' "$dir"/*_test.go | sed -E 's/^func (Fuzz[A-Za-z0-9_]*).*/\1/'); do
    echo "fuzzing $dir $target for $fuzztime"
    go test -run='^$' -fuzz="^${target}\$" -fuzztime="$fuzztime" "./$dir" >/dev/null || {
      echo "fuzz target $target in $dir failed; the failing input is under $dir/testdata/fuzz/$target" >&2
      exit 1
    }
  done
done
