"""What only Koala has to measure, from the operator's side, while the harness launches
its batches:

  - Instance created -> VirtualMachine created: two `kubectl get --watch` streams (one of
    Instances, one of VirtualMachines) of the same API server, each object's first
    sighting timestamped by this process, so both ends are read on one clock and through
    the same path;
  - API server writes per launched instance, from kube-apiserver's own
    apiserver_request_total (by verb, group, resource and subresource), cross-checked
    with the operator's own client metric (rest_client_requests_total by method);
  - reconcile time of the instance controller, from the operator's
    controller_runtime_reconcile_time_seconds histogram (p50 and p99 interpolated in
    its buckets, as PromQL's histogram_quantile does);
  - resident memory of koala-operator and koala-ec2, read from /proc;
  - a CPU profile of the operator over the first 30 s of the launches (pprof), whose
    top functions are written next to the results.
"""
import atexit
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
import sys
import urllib.request

WRITE_VERBS = ("POST", "PUT", "PATCH", "DELETE", "APPLY")
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)')
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """Returns [(name, {labels}, value)] of a Prometheus text exposition."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if not m:
            continue
        try:
            value = float(m.group(3))
        except ValueError:
            continue
        out.append((m.group(1), dict(LABEL.findall(m.group(2) or "")), value))
    return out


def quantile(q, buckets):
    """histogram_quantile over [(le, cumulative count)], le sorted, last +Inf."""
    if not buckets or buckets[-1][1] == 0:
        return float("nan")
    rank = q * buckets[-1][1]
    prev_le, prev_count = 0.0, 0.0
    for le, count in buckets:
        if count >= rank:
            if le == float("inf"):
                return prev_le
            if count == prev_count:
                return le
            return prev_le + (le - prev_le) * (rank - prev_count) / (count - prev_count)
        prev_le, prev_count = le, count
    return prev_le


class Watch:
    """First sighting, on this process's clock, of each object of a kind. kubectl ends
    its watch when the API server does (after some minutes, or when etcd compacts past
    it): it is started again watching only, so that every sighting is a live event;
    objects made while it was down are not sighted, and count in no figure."""

    def __init__(self, kubeconfig, resource):
        self.seen = {}
        self.restarts = 0
        self.stopped = False
        self.cmd = ["kubectl", "--kubeconfig", kubeconfig, "get", resource, "--all-namespaces", "--watch", "-o", "name"]
        self.proc = self._start(self.cmd)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    @staticmethod
    def _start(cmd):
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)

    def _read(self):
        while True:
            for line in self.proc.stdout:
                now = time.perf_counter()
                name = line.strip().rsplit("/", 1)[-1]
                if name and name not in self.seen:
                    self.seen[name] = now
            self.proc.wait()
            if self.stopped:
                return
            self.restarts += 1
            time.sleep(1)  # not in a tight loop when kubectl cannot start
            if self.stopped:
                return
            self.proc = self._start(self.cmd + ["--watch-only"])

    def stop(self):
        self.stopped = True
        self.proc.terminate()
        self.proc.wait()


class Observer:
    def __init__(self, kubeconfig, operator_metrics, operator_pid, ec2_pid, pprof=None, operator_bin=None):
        self.kubeconfig = kubeconfig
        self.pprof = pprof
        self.operator_bin = operator_bin
        self.profile = None
        self.operator_metrics = operator_metrics
        self.operator_pid = operator_pid
        self.ec2_pid = ec2_pid

    def apiserver(self):
        out = subprocess.run(["kubectl", "--kubeconfig", self.kubeconfig, "get", "--raw", "/metrics"],
                             check=True, capture_output=True, text=True).stdout
        return parse_metrics(out)

    def operator(self):
        with urllib.request.urlopen(self.operator_metrics, timeout=30) as resp:
            return parse_metrics(resp.read().decode())

    def start(self):
        """Before the launches: the counters' starting points, and the watches."""
        self.api0, self.op0 = self.apiserver(), self.operator()
        self.instances = Watch(self.kubeconfig, "instances.cloud.koala.dev")
        self.vms = Watch(self.kubeconfig, "virtualmachines.kubevirt.io")
        if self.pprof:
            self.profile = tempfile.NamedTemporaryFile(suffix=".pprof", delete=False).name
            self.profiler = threading.Thread(target=self._profile, daemon=True)
            self.profiler.start()
        time.sleep(2)  # the watches list what exists, then follow

    def _profile(self):
        try:
            with urllib.request.urlopen(self.pprof + "/debug/pprof/profile?seconds=30", timeout=120) as resp:
                data = resp.read()
            with open(self.profile, "wb") as f:
                f.write(data)
        except OSError as e:
            print(f"operator CPU profile: {e}", file=sys.stderr)

    def profile_top(self, path):
        """Writes the profile's top functions (cumulative) to path."""
        if not self.profile:
            return
        self.profiler.join()
        if os.path.getsize(self.profile) == 0:
            return
        out = subprocess.run(["go", "tool", "pprof", "-top", "-cum", "-nodecount=40", self.operator_bin, self.profile],
                             capture_output=True, text=True)
        with open(path, "w") as f:
            f.write(out.stdout or out.stderr)
        os.unlink(self.profile)

    def finish(self, ids, settled):
        """After the launches of ids: waits until `settled()` is true (everything
        running, volumes attached: every instance has its VM), then reads the counters
        again."""
        settled()
        settled_at = time.perf_counter()
        time.sleep(5)  # the last status writes and events
        api1, op1 = self.apiserver(), self.operator()
        self.instances.stop()
        self.vms.stop()
        r = {}
        lat = sorted(self.vms.seen[i] - self.instances.seen[i] for i in ids
                     if i in self.vms.seen and i in self.instances.seen)
        r["watch_restarts"] = self.instances.restarts + self.vms.restarts
        if lat:
            r["vm_latency_p50"] = lat[len(lat) // 2]
            r["vm_latency_p99"] = lat[min(len(lat) - 1, int(round(0.99 * (len(lat) - 1))))]
            r["vm_latency_n"] = len(lat)
        n = len(ids)
        r["launched"] = n
        r["all_running_after"] = settled_at - min(self.instances.seen.get(i, settled_at) for i in ids)
        r["apiserver_writes"] = {k: v / n for k, v in sorted(self._writes(self.api0, api1).items()) if v > 0}
        r["operator_writes_per_instance"] = self._client_writes(self.op0, op1) / n
        r["reconcile_p50"], r["reconcile_p99"], r["reconciles"], r["reconcile_errors"] = self._reconcile(self.op0, op1)
        r["apiserver_write_latency"] = self._write_latency(self.api0, api1)
        r["volume_reconciles"] = self._reconcile(self.op0, op1, "volume")[2]
        return r

    # The writes an instance reconcile waits for: their time in kube-apiserver bounds
    # the reconcile's from below.
    RECONCILE_WRITES = (("POST", "kubevirt.io", "virtualmachines", ""), ("PATCH", "cloud.koala.dev", "instances", "status"))

    @classmethod
    def _write_latency(cls, before, after):
        """p50 and p99 of kube-apiserver's apiserver_request_duration_seconds of the
        instance reconciler's writes, over the launches."""
        def buckets(samples, want):
            out = {}
            for name, labels, value in samples:
                if name != "apiserver_request_duration_seconds_bucket":
                    continue
                key = (labels.get("verb"), labels.get("group", ""), labels.get("resource"), labels.get("subresource", ""))
                if key == want:
                    le = float(labels["le"])
                    out[le] = out.get(le, 0) + value
            return out
        r = {}
        for want in cls.RECONCILE_WRITES:
            b0, b1 = buckets(before, want), buckets(after, want)
            delta = sorted((le, c - b0.get(le, 0)) for le, c in b1.items())
            name = f"{want[0]} {want[2]}" + (f"/{want[3]}" if want[3] else "")
            r[name] = (quantile(0.5, delta), quantile(0.99, delta))
        return r

    @staticmethod
    def _writes(before, after):
        def totals(samples):
            t = {}
            for name, labels, value in samples:
                if name != "apiserver_request_total" or labels.get("verb") not in WRITE_VERBS:
                    continue
                res = labels.get("resource", "")
                if labels.get("group"):
                    res += "." + labels["group"]
                if labels.get("subresource"):
                    res += "/" + labels["subresource"]
                key = f"{labels['verb']} {res}"
                t[key] = t.get(key, 0) + value
            return t
        b, a = totals(before), totals(after)
        return {k: a[k] - b.get(k, 0) for k in a}

    @staticmethod
    def _client_writes(before, after):
        def total(samples):
            return sum(v for name, labels, v in samples
                       if name == "rest_client_requests_total" and labels.get("method") in WRITE_VERBS)
        return total(after) - total(before)

    @staticmethod
    def _reconcile(before, after, controller="instance"):
        def get(samples):
            buckets, total, errors = {}, 0.0, 0.0
            for name, labels, v in samples:
                if labels.get("controller") != controller:
                    continue
                if name == "controller_runtime_reconcile_time_seconds_bucket":
                    buckets[float(labels["le"])] = v
                elif name == "controller_runtime_reconcile_total":
                    total += v
                elif name == "controller_runtime_reconcile_errors_total":
                    errors += v
            return buckets, total, errors
        b0, t0, e0 = get(before)
        b1, t1, e1 = get(after)
        delta = sorted((le, c - b0.get(le, 0)) for le, c in b1.items())
        return quantile(0.5, delta), quantile(0.99, delta), t1 - t0, e1 - e0

    def restart_operator(self, count, timeout=900):
        """Stops the operator and starts it again with the same command line and
        environment, as an upgrade does, and times its resync of `count` instances:
        until its instance controller has reconciled at least that many and its queue
        is empty. Returns the resync's duration, its reconcile p50 and p99, the writes it
        made, and the new process's RSS (and peak) once resynced. The new process is
        stopped when this one exits."""
        pid = self.operator_pid
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = [a.decode() for a in f.read().split(b"\0")[:-1]]
        with open(f"/proc/{pid}/environ", "rb") as f:
            env = dict(kv.decode().split("=", 1) for kv in f.read().split(b"\0") if b"=" in kv)
        os.kill(pid, signal.SIGINT)
        deadline = time.time() + 60
        while time.time() < deadline and not self._gone(pid):
            time.sleep(0.2)
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        atexit.register(proc.terminate)
        self.operator_pid = proc.pid
        deadline = time.time() + timeout
        while True:
            if time.time() > deadline:
                raise RuntimeError(f"operator restarted: no resync of {count} instances in {timeout} s")
            time.sleep(0.5)
            try:
                samples = self.operator()
            except OSError:
                continue  # not serving yet
            done = sum(v for n, l, v in samples if n == "controller_runtime_reconcile_total" and l.get("controller") == "instance")
            depth = sum(v for n, l, v in samples if n == "workqueue_depth" and l.get("name") == "instance")
            if done >= count and depth == 0:
                break
        r = {"restart_resync": time.perf_counter() - start}
        r["restart_reconcile_p50"], r["restart_reconcile_p99"], r["restart_reconciles"], _ = self._reconcile([], samples)
        r["restart_writes"] = self._client_writes([], samples)
        r.update({k.replace("operator_", "restart_"): v for k, v in self.rss().items() if k.startswith("operator_")})
        return r

    @staticmethod
    def _gone(pid):
        """Whether pid has exited (a zombie its parent has not reaped counts as exited)."""
        try:
            with open(f"/proc/{pid}/status") as f:
                return any(line.startswith("State:") and "Z" in line.split()[1] for line in f)
        except FileNotFoundError:
            return True

    def rss(self):
        """Resident and peak resident memory (bytes) of the operator and the endpoint."""
        out = {}
        for name, pid in (("operator", self.operator_pid), ("ec2", self.ec2_pid)):
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    key, _, value = line.partition(":")
                    if key in ("VmRSS", "VmHWM"):
                        out[f"{name}_{key}"] = int(value.split()[0]) * 1024
        if self.pprof:
            # After the RSS reading: a forced collection, then the heap still in use is
            # what the operator holds live (its cache, mostly).
            with urllib.request.urlopen(self.pprof + "/debug/pprof/heap?gc=1", timeout=120) as resp:
                resp.read()
            out["operator_live_heap"] = sum(v for n, _, v in self.operator() if n == "go_memstats_heap_alloc_bytes")
        return out
