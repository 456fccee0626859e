#!/usr/bin/env bash
# Runs bench/sidebyside.py: starts moto_server and a fresh Koala local stack on free
# loopback ports, runs the same boto3 workload against both, stops both.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
count=${COUNT:-1000}
# ONLY=volumes runs only the DescribeVolumes part, into sidebyside-volumes-$COUNT.md;
# REPEATS sets how many times each figure is taken (the median is reported).
only=${ONLY:-}
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
moto_port=$(free_port)
koala_port=$(free_port)

export KUBEBUILDER_ASSETS=${KUBEBUILDER_ASSETS:-$("$root/hack/build-controlplane.sh")}
go build -o "$work/koala-local" "$root/cmd/koala-local"

moto_server -H 127.0.0.1 -p "$moto_port" >"$work/moto.log" 2>&1 &
pids+=($!)
(cd "$work" && exec ./koala-local -listen "127.0.0.1:$koala_port") >"$work/koala.log" 2>&1 &
pids+=($!)

for _ in $(seq 1 120); do
  if grep -q "koala local stack ready" "$work/koala.log" && curl -s "http://127.0.0.1:$moto_port/" >/dev/null; then break; fi
  sleep 0.5
done
grep -q "koala local stack ready" "$work/koala.log" || { cat "$work/koala.log"; exit 1; }

mkdir -p "$root/bench/results"
python3 "$root/bench/sidebyside.py" --koala-env "$work/.koala/env" --moto "http://127.0.0.1:$moto_port" \
  --count "$count" ${only:+--only "$only"} ${REPEATS:+--repeats "$REPEATS"} --out "$root/bench/results/sidebyside-${only:+$only-}$count.md"
