#!/usr/bin/env bash
# Runs every fuzz target of the repository for a short time each (default 10s).
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-10s}
grep -rl --include='*_test.go' '^func Fuzz' internal | xargs -n1 dirname | sort -u | while read -r dir; do
  for target in $(grep -h '^func Fuzz' "$dir"/*_test.go | sed -E 's/^func (Fuzz[A-Za-z0-9_]*).*/\1/'); do
    echo "fuzzing $dir $target for $fuzztime"
    # The output is shown only on failure: it says whether an input failed (saved
    # under testdata) or the fuzzing engine itself did (a hung or killed worker).
    out=$(go test -run='^$' -fuzz="^${target}\$" -fuzztime="$fuzztime" "./$dir" 2>&1) || {
      grep -v '^fuzz: elapsed' <<<"$out" | tail -40 >&2
      echo "fuzz target $target in $dir failed; a failing input, if any, is under $dir/testdata/fuzz/$target" >&2
      exit 1
    }
  done
done
