#!/usr/bin/env bash
# Runs bench/sidebyside.py once per size in BENCH_SIZES (default "1000"; COUNT is the
# older name of a single size): for each, moto_server and a fresh Koala stack on free
# loopback ports, the same boto3 workload against both, then both are stopped. Writes
# bench/results/sidebyside-<size>.{md,json}, then the summary and plot of all sizes.
#
# Koala runs as three processes, so that each is measured apart: koala-local (etcd,
# kube-apiserver, the KubeVirt simulator, and an idle in-process endpoint the workload
# does not use) with -external-operator, koala-operator and koala-ec2, both against the
# stack's kubeconfig. The workload talks to koala-ec2; the RSS of koala-operator and
# koala-ec2 are their own processes'.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
sizes=${BENCH_SIZES:-${COUNT:-1000}}
# ONLY=volumes runs only the DescribeVolumes part, into sidebyside-volumes-<size>.md;
# REPEATS sets how many times each figure is taken (the median is reported).
only=${ONLY:-}
work=$(mktemp -d)
pids=()
stop_all() {
  for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
trap 'stop_all; rm -rf "$work"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

export KUBEBUILDER_ASSETS=${KUBEBUILDER_ASSETS:-$("$root/hack/build-controlplane.sh")}
for cmd in koala-local koala-operator koala-ec2; do
  go build -o "$work/$cmd" "$root/cmd/$cmd"
done
mkdir -p "$root/bench/results"

for count in $sizes; do
  run="$work/run-$count"
  mkdir -p "$run"
  moto_port=$(free_port)
  local_port=$(free_port)
  ec2_port=$(free_port)
  ec2_metrics=$(free_port)
  op_metrics=$(free_port)
  op_pprof=$(free_port)

  moto_server -H 127.0.0.1 -p "$moto_port" >"$run/moto.log" 2>&1 &
  pids+=($!)
  (cd "$run" && exec "$work/koala-local" -external-operator -listen "127.0.0.1:$local_port") >"$run/koala.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 240); do [ -s "$run/.koala/kubeconfig" ] && break; sleep 0.5; done
  [ -s "$run/.koala/kubeconfig" ] || { cat "$run/koala.log"; exit 1; }
  # The operator and the endpoint run with the memory limit the Helm chart gives them
  # by default (512Mi): their Go runtime keeps its heap to 90% of it (internal/memlimit).
  memory_limit=$((512 * 1024 * 1024))
  KOALA_MEMORY_LIMIT=$memory_limit KUBECONFIG="$run/.koala/kubeconfig" "$work/koala-operator" -metrics-bind-address "127.0.0.1:$op_metrics" \
    -pprof-bind-address "127.0.0.1:$op_pprof" -health-probe-bind-address 0 -status-configmap "" -zap-log-level error >"$run/operator.log" 2>&1 &
  op_pid=$!
  pids+=($op_pid)
  for _ in $(seq 1 240); do
    if grep -q "koala local stack ready" "$run/koala.log" && curl -s "http://127.0.0.1:$moto_port/" >/dev/null; then break; fi
    sleep 0.5
  done
  grep -q "koala local stack ready" "$run/koala.log" || { cat "$run/koala.log" "$run/operator.log"; exit 1; }
  # Throttling is off: it limits a key's request rate, which is not what is measured,
  # and the harness's polling at 10,000 instances would trip it.
  KOALA_MEMORY_LIMIT=$memory_limit KUBECONFIG="$run/.koala/kubeconfig" "$work/koala-ec2" -listen "127.0.0.1:$ec2_port" -insecure-http \
    -metrics-bind-address "127.0.0.1:$ec2_metrics" -throttle=false -audit-log "" -zap-log-level error >"$run/ec2.log" 2>&1 &
  ec2_pid=$!
  pids+=($ec2_pid)
  for _ in $(seq 1 120); do curl -s "http://127.0.0.1:$ec2_metrics/healthz" >/dev/null && break; sleep 0.5; done

  # At 10,000 instances moto takes minutes per page of DescribeInstances: the sizes
  # from 5,000 run the reduced workload of bench/scale.py, which reads the operator once
  # every instance runs or after BENCH_SETTLE seconds, and cuts each call to moto at
  # BENCH_MOTO_TIMEOUT seconds (reporting a lower bound).
  extra=()
  if [ "$count" -ge 5000 ] && [ -z "$only" ]; then
    extra=(--repeats 3 --only scale --settle-deadline "${BENCH_SETTLE:-1800}" --moto-timeout "${BENCH_MOTO_TIMEOUT:-300}")
  fi
  python3 "$root/bench/sidebyside.py" "${extra[@]}" --koala-env "$run/.koala/env" --koala-endpoint "http://127.0.0.1:$ec2_port" \
    --moto "http://127.0.0.1:$moto_port" --count "$count" ${only:+--only "$only"} ${REPEATS:+--repeats "$REPEATS"} \
    --out "$root/bench/results/sidebyside-${only:+$only-}$count.md" \
    --kubeconfig "$run/.koala/kubeconfig" --operator-metrics "http://127.0.0.1:$op_metrics/metrics" \
    --operator-pid "$op_pid" --ec2-pid "$ec2_pid" --operator-pprof "http://127.0.0.1:$op_pprof" --operator-bin "$work/koala-operator"
  stop_all
done

# The plot needs matplotlib: Debian's python3-matplotlib serves /usr/bin/python3.
plotter=""
for py in python3 /usr/bin/python3; do
  if "$py" -c 'import matplotlib' 2>/dev/null; then plotter=$py; break; fi
done
if [ -n "$plotter" ]; then
  "$plotter" "$root/bench/plot.py" "$root/bench/results"
else
  echo "matplotlib not found (apt-get install python3-matplotlib): no plot written" >&2
  python3 "$root/bench/plot.py" --no-plot "$root/bench/results"
fi
