#!/usr/bin/env python3
"""Side-by-side benchmark: the same boto3 workload (instances, then volumes) against
Koala's local stack and moto_server, in one run, each figure taken twice:

  end to end  - through boto3, what a user waits for (includes boto3's XML parsing,
                about 0.4 s per 1,000 instances on these machines);
  server      - signed raw HTTP requests whose responses are read but not parsed, so
                the figure is the server's (and the loopback's) time.

Prints a markdown table of figures and ratios (moto / Koala: above 1 means Koala is
faster) and writes it to --out, with the operator's figures (bench/koalaside.py) when
the operator's metrics are given.
"""
import argparse
import http.client
import json
import re
import statistics
import sys
import time
import urllib.parse

import boto3

import koalaside
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

NEXT_TOKEN = re.compile(rb"<nextToken>([^<]+)</nextToken>")
INSTANCE_ID = re.compile(rb"<instanceId>(i-[0-9a-f]+)</instanceId>")


class Cut(Exception):
    """A raw request that got no answer within the target's time limit: `seconds` (the
    limit, plus what earlier pages of a paginated call took) is a lower bound of its time."""

    def __init__(self, seconds):
        super().__init__(f"no answer within {seconds:.0f} s")
        self.seconds = seconds


class Target:
    def __init__(self, name, endpoint, region, key, secret, image_query, observer=None):
        self.name = name
        self.timeout = 900
        # observer (Koala only) measures the operator's side of the batch launches.
        self.observer = observer
        self.endpoint = endpoint
        self.region = region
        self.creds = Credentials(key, secret)
        self.client = boto3.client(
            "ec2", endpoint_url=endpoint, region_name=region,
            aws_access_key_id=key, aws_secret_access_key=secret,
            config=Config(retries={"max_attempts": 1}, max_pool_connections=4, read_timeout=900))
        u = urllib.parse.urlparse(endpoint)
        self.host, self.port = u.hostname, u.port
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        self.image = image_query(self.client)
        self.subnet = launch_subnet(self.client)

    def limit(self, seconds):
        """From now on, requests get no more than `seconds` to answer (see raw)."""
        self.timeout = seconds
        self.conn.close()
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=seconds)

    def run(self, **kw):
        """RunInstances through boto3, into the launch subnet."""
        return self.client.run_instances(ImageId=self.image, InstanceType="t3.micro", SubnetId=self.subnet, **kw)

    def run_raw(self, count, extra=None):
        """RunInstances of count, raw, into the launch subnet: (seconds, body)."""
        params = {"Action": "RunInstances", "ImageId": self.image, "InstanceType": "t3.micro",
                  "MinCount": str(count), "MaxCount": str(count), "SubnetId": self.subnet}
        return self.raw(dict(params, **(extra or {})))

    def raw(self, params):
        """One signed POST; the body is read, not parsed. Returns (seconds, body); raises
        Cut when no answer came within the target's time limit."""
        params = dict(params, Version="2016-11-15")
        body = urllib.parse.urlencode(params)
        req = AWSRequest(method="POST", url=self.endpoint + "/", data=body,
                         headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
        SigV4Auth(self.creds, "ec2", self.region).add_auth(req)
        headers = dict(req.headers.items())
        start = time.perf_counter()
        try:
            self.conn.request("POST", "/", body=body, headers=headers)
            resp = self.conn.getresponse()
            data = resp.read()
        except TimeoutError:
            # The server may still be working on it; the next request gets a new connection.
            self.conn.close()
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            raise Cut(time.perf_counter() - start) from None
        elapsed = time.perf_counter() - start
        if resp.status != 200:
            raise RuntimeError(f"{self.name} {params['Action']}: HTTP {resp.status}: {data[:300]!r}")
        return elapsed, data


def launch_subnet(client):
    """A VPC and one subnet as large as it (10.0.0.0/16, 65,531 addresses) that every
    launch goes to, on both targets: a default subnet is a /20 per zone, as in EC2, and
    holds 4,091 instances, fewer than the largest sizes launch."""
    vpc = client.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = client.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/16")["Subnet"]["SubnetId"]
    for _ in range(600):
        if client.describe_subnets(SubnetIds=[subnet])["Subnets"][0]["State"] == "available":
            return subnet
        time.sleep(0.1)
    raise RuntimeError(f"subnet {subnet} did not become available")


def koala_image(client):
    out = client.describe_images(Owners=["amazon"])
    return out["Images"][0]["ImageId"]


def moto_image(client):
    out = client.describe_images(Owners=["amazon"], Filters=[{"Name": "architecture", "Values": ["x86_64"]}])
    return sorted(i["ImageId"] for i in out["Images"])[0]


def pct(values, p):
    values = sorted(values)
    k = max(0, min(len(values) - 1, int(round(p / 100.0 * (len(values) - 1)))))
    return values[k]


def timed(fn, n):
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def run_workload(t, count, batch, repeats, single):
    r = {}
    c = t.client
    # RunInstances of one, end to end and server time: one launch at a time, as a user
    # launches one instance, each timed from request to response; between launches
    # (untimed) the instance is left to reach running, so that a launch is not timed
    # while the previous one still boots.
    def settle(instance_id):
        for _ in range(600):
            out = c.describe_instances(InstanceIds=[instance_id])
            if out["Reservations"][0]["Instances"][0]["State"]["Name"] == "running":
                return
            time.sleep(0.05)
        raise RuntimeError(f"{t.name}: {instance_id} did not reach running")

    e2e, srv = [], []
    for _ in range(single):
        start = time.perf_counter()
        out = t.run(MinCount=1, MaxCount=1)
        e2e.append(time.perf_counter() - start)
        settle(out["Instances"][0]["InstanceId"])
        secs, body = t.run_raw(1)
        srv.append(secs)
        settle(INSTANCE_ID.search(body).group(1).decode())
    r["RunInstances (1) p50"] = (statistics.median(e2e), statistics.median(srv), "s")
    r["RunInstances (1) p99"] = (pct(e2e, 99), pct(srv, 99), "s")

    # Launch `count` more in batches, each batch tagged, half through boto3, half raw.
    if t.observer:
        t.observer.start()
    ids = []
    launched_e2e = launched_srv = 0
    e2e_time = srv_time = 0.0
    for b in range(count // batch):
        tags = [{"ResourceType": "instance", "Tags": [{"Key": "batch", "Value": str(b)}]}]
        if b % 2 == 0:
            start = time.perf_counter()
            out = t.run(MinCount=batch, MaxCount=batch, TagSpecifications=tags)
            e2e_time += time.perf_counter() - start
            launched_e2e += batch
            ids += [i["InstanceId"] for i in out["Instances"]]
        else:
            secs, body = t.run_raw(batch, {"TagSpecification.1.ResourceType": "instance",
                                           "TagSpecification.1.Tag.1.Key": "batch", "TagSpecification.1.Tag.1.Value": str(b)})
            srv_time += secs
            launched_srv += batch
            ids += [m.decode() for m in INSTANCE_ID.findall(body)]
    r[f"Launch rate, batches of {batch} (instances/s)"] = (launched_e2e / e2e_time, launched_srv / srv_time, "/s")
    operator = None
    if t.observer:
        operator = t.observer.finish(ids, lambda: wait_running(t) or settle_volumes(t, count))

    # DescribeInstances of everything, paginated.
    def describe_all_e2e():
        n = 0
        for page in c.get_paginator("describe_instances").paginate(PaginationConfig={"PageSize": 1000}):
            for res in page["Reservations"]:
                n += len(res["Instances"])
        return n

    seen = describe_all_e2e()
    if seen < count:
        raise RuntimeError(f"{t.name}: DescribeInstances saw {seen} instances, expected at least {count}")
    e2e = timed(describe_all_e2e, repeats)
    srv = [paged(t, "DescribeInstances", 1000) for _ in range(repeats)]
    r[f"DescribeInstances, all {seen} (paginated) p50"] = (statistics.median(e2e), statistics.median(srv), "s")

    flt = [{"Name": "tag:batch", "Values": ["3"]}]
    e2e = timed(lambda: c.describe_instances(Filters=flt), repeats)
    srv = [t.raw({"Action": "DescribeInstances", "Filter.1.Name": "tag:batch", "Filter.1.Value.1": "3"})[0]
           for _ in range(repeats)]
    r[f"DescribeInstances by tag ({batch} match) p50"] = (statistics.median(e2e), statistics.median(srv), "s")

    one = ids[len(ids) // 2]
    e2e = timed(lambda: c.describe_instances(InstanceIds=[one]), repeats * 5)
    srv = [t.raw({"Action": "DescribeInstances", "InstanceId.1": one})[0] for _ in range(repeats * 5)]
    r["DescribeInstances by ID p50"] = (statistics.median(e2e), statistics.median(srv), "s")

    r.update(state_workload(t, ids[:batch], repeats))
    r.update(volume_workload(t, count, repeats))
    if t.observer:
        operator.update(t.observer.rss())
    return r, operator


def raw_pages(t, params, size):
    """The pages of a paginated describe, as signed raw requests: yields (seconds, body)
    of each, following nextToken."""
    token = None
    while True:
        p = dict(params, MaxResults=str(size))
        if token:
            p["NextToken"] = token
        secs, body = t.raw(p)
        yield secs, body
        m = NEXT_TOKEN.search(body)
        if not m:
            return
        token = m.group(1).decode()


def paged(t, action, size, first_only=False):
    """Server time of a paginated describe (or of its first page). A page cut by the
    time limit raises Cut with the time of the pages before it added."""
    total = 0.0
    try:
        for secs, _ in raw_pages(t, {"Action": action}, size):
            total += secs
            if first_only:
                break
    except Cut as e:
        raise Cut(total + e.seconds) from None
    return total


def state_filter(state):
    """DescribeInstances of the instances in one state, as raw parameters."""
    return {"Action": "DescribeInstances", "Filter.1.Name": "instance-state-name", "Filter.1.Value.1": state}


def count_raw(t, params):
    """Counts the instances a (paginated) DescribeInstances returns, without parsing."""
    return sum(len(INSTANCE_ID.findall(body)) for _, body in raw_pages(t, params, 1000))


def wait_running(t, timeout=1800):
    """Waits (untimed) until no instance is pending."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if count_raw(t, state_filter("pending")) == 0:
            return
        time.sleep(2)
    raise RuntimeError(f"{t.name}: instances still pending after {timeout} s")


def state_workload(t, stop_ids, repeats):
    """Stops one batch (untimed, waiting until they are stopped), then times
    DescribeInstances filtered by instance-state-name=stopped: a filter that the rest of
    the instances (running) must be checked against."""
    c = t.client
    c.stop_instances(InstanceIds=stop_ids)
    flt = state_filter("stopped")
    deadline = time.time() + 600
    while count_raw(t, flt) < len(stop_ids):
        if time.time() > deadline:
            raise RuntimeError(f"{t.name}: instances did not stop")
        time.sleep(1)
    e2e = timed(lambda: c.describe_instances(Filters=[{"Name": "instance-state-name", "Values": ["stopped"]}]), repeats)
    srv = [t.raw(flt)[0] for _ in range(repeats)]
    return {f"DescribeInstances by state ({len(stop_ids)} stopped) p50": (statistics.median(e2e), statistics.median(srv), "s")}


def settle_volumes(t, count):
    """Waits (untimed) until every volume is attached or available: the instances just
    launched are still booting on Koala, whose operator and simulator share the
    machine's cores with the endpoint; moto has nothing to do in the background."""
    deadline = time.time() + 600
    while time.time() < deadline:
        busy = 0
        for page in t.client.get_paginator("describe_volumes").paginate(PaginationConfig={"PageSize": 500}):
            for v in page["Volumes"]:
                if v["State"] not in ("available", "in-use") or any(a["State"] != "attached" for a in v.get("Attachments", [])):
                    busy += 1
        if busy == 0:
            return
        time.sleep(5)
    print(f"{t.name}: volumes still settling after 10 minutes", file=sys.stderr)


def volume_workload(t, count, repeats):
    """Times DescribeVolumes of every volume, paginated by 500, and of one by ID. The
    volumes are the root volumes of the instances launched before (both EC2s give each
    instance one), so there are at least `count`; creating them one by one would measure
    the endpoint's throttling instead."""
    r = {}
    c = t.client
    settle_volumes(t, count)
    # Koala's endpoint throttles each key (100 describe calls at once, 20 a second
    # after); let its bucket fill, so that what follows (about 70 calls) is not throttled.
    time.sleep(6)

    def describe_all_e2e():
        n, first = 0, None
        for page in c.get_paginator("describe_volumes").paginate(PaginationConfig={"PageSize": 500}):
            n += len(page["Volumes"])
            if first is None and page["Volumes"]:
                first = page["Volumes"][len(page["Volumes"]) // 2]["VolumeId"]
        return n, first

    seen, one = describe_all_e2e()
    if seen < count:
        raise RuntimeError(f"{t.name}: DescribeVolumes saw {seen} volumes, expected at least {count}")
    e2e = timed(describe_all_e2e, repeats)
    srv = [paged(t, "DescribeVolumes", 500) for _ in range(repeats)]
    r[f"DescribeVolumes, all {seen} (paginated) p50"] = (statistics.median(e2e), statistics.median(srv), "s")

    e2e = timed(lambda: c.describe_volumes(VolumeIds=[one]), repeats * 5)
    srv = [t.raw({"Action": "DescribeVolumes", "VolumeId.1": one})[0] for _ in range(repeats * 5)]
    r["DescribeVolumes by ID p50"] = (statistics.median(e2e), statistics.median(srv), "s")
    return r


def volumes_only(targets, count, batch, repeats):
    """The volume part alone (--only volumes): launches `count` instances in batches on
    each target, untimed, for their root volumes, then times DescribeVolumes of them all
    and of one by ID, alternating between the targets at every repetition, so that the
    load other processes put on a shared machine falls on both alike."""
    for t in targets:
        for b in range(count // batch):
            t.run_raw(batch)
    for t in targets:
        settle_volumes(t, count)
    time.sleep(6)  # Koala's throttling bucket refills (see volume_workload)

    def describe_all_e2e(t):
        n, mid = 0, None
        for page in t.client.get_paginator("describe_volumes").paginate(PaginationConfig={"PageSize": 500}):
            n += len(page["Volumes"])
            if mid is None and page["Volumes"]:
                mid = page["Volumes"][len(page["Volumes"]) // 2]["VolumeId"]
        return n, mid

    one, seen, samples = {}, {}, {}
    for t in targets:
        seen[t.name], one[t.name] = describe_all_e2e(t)
        if seen[t.name] < count:
            raise RuntimeError(f"{t.name}: DescribeVolumes saw {seen[t.name]} volumes, expected at least {count}")
        samples[t.name] = {"all_e2e": [], "all_srv": [], "id_e2e": [], "id_srv": []}
    for _ in range(repeats):
        for t in targets:
            s, vid = samples[t.name], one[t.name]
            s["all_e2e"] += timed(lambda: describe_all_e2e(t), 1)
            s["all_srv"].append(paged(t, "DescribeVolumes", 500))
            s["id_e2e"] += timed(lambda: t.client.describe_volumes(VolumeIds=[vid]), 1)
            s["id_srv"].append(t.raw({"Action": "DescribeVolumes", "VolumeId.1": vid})[0])
        time.sleep(0.5)  # stays under Koala's 20 describe calls a second
    out = {}
    for t in targets:
        s = samples[t.name]
        out[t.name] = {
            f"DescribeVolumes, all {min(seen.values())}+ (paginated by 500) p50":
                (statistics.median(s["all_e2e"]), statistics.median(s["all_srv"]), "s"),
            "DescribeVolumes by ID p50": (statistics.median(s["id_e2e"]), statistics.median(s["id_srv"]), "s"),
        }
    return out


def ratio(r):
    return "-" if r != r else f"{r:.1f}x"  # NaN: not measured


def fmt(v, unit):
    if v != v:
        return "-"  # not measured (NaN)
    if unit == "/s":
        return f"{v:,.0f}/s"
    if v < 1:
        return f"{v * 1000:.1f} ms"
    return f"{v:.2f} s"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--koala-env", required=True, help="the local stack's .koala/env file")
    ap.add_argument("--moto", required=True, help="moto_server endpoint URL")
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--single", type=int, default=30)
    ap.add_argument("--out", help="write the markdown table here")
    ap.add_argument("--only", choices=["volumes", "scale"],
                    help="run only this part of the workload (scale: bench/scale.py, for large sizes)")
    ap.add_argument("--settle-deadline", type=float, default=1800,
                    help="--only scale: seconds to wait for every instance to run before reading the operator")
    ap.add_argument("--moto-timeout", type=float, default=300,
                    help="--only scale: seconds a call to moto may take; one cut is reported as a lower bound")
    ap.add_argument("--koala-endpoint", help="EC2 endpoint to use instead of the env file's")
    ap.add_argument("--kubeconfig", help="the stack's kubeconfig, for the operator's figures")
    ap.add_argument("--operator-metrics", help="URL of koala-operator's metrics")
    ap.add_argument("--operator-pid", type=int)
    ap.add_argument("--ec2-pid", type=int)
    ap.add_argument("--operator-pprof", help="base URL of koala-operator's pprof server")
    ap.add_argument("--operator-bin", help="the koala-operator binary, to read its profile")
    args = ap.parse_args()

    env = {}
    for line in open(args.koala_env):
        m = re.match(r"export (\w+)=(.*)", line.strip())
        if m:
            env[m.group(1)] = m.group(2)
    observer = None
    if args.operator_metrics:
        observer = koalaside.Observer(args.kubeconfig, args.operator_metrics, args.operator_pid, args.ec2_pid,
                                      args.operator_pprof, args.operator_bin)
    koala = Target("koala", args.koala_endpoint or env["AWS_ENDPOINT_URL"], env["AWS_DEFAULT_REGION"],
                   env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], koala_image, observer)
    moto = Target("moto", args.moto, "us-east-1", "testing", "testing", moto_image)

    results, operator, cut = {}, None, set()
    if args.only == "volumes":
        print("running the volume workload against moto and koala ...", file=sys.stderr)
        results = volumes_only((moto, koala), args.count, args.batch, args.repeats)
    if args.only == "scale":
        import scale
        rows, operator, cut = scale.run(koala, moto, args.count, args.batch, args.repeats, args.settle_deadline,
                                        args.moto_timeout)
        nan = float("nan")
        results = {"koala": {n: (nan, k, u) for n, (k, _, u) in rows.items()},
                   "moto": {n: (nan, m, u) for n, (_, m, u) in rows.items()}}
    for t in (moto, koala):
        if args.only:
            break
        print(f"running the workload against {t.name} ...", file=sys.stderr)
        results[t.name], op = run_workload(t, args.count, args.batch, args.repeats, args.single)
        operator = operator or op

    if args.only == "scale":
        what = (f"one run of the reduced workload (bench/scale.py: server time only, no single launches; Koala first "
                f"and alone, p50 of {args.repeats} describes ({args.repeats * 5} by ID); then moto, each call limited to "
                f"{args.moto_timeout:.0f} s, '>' marking a call cut by the limit: a lower bound)")
    else:
        what = (f"one run, {args.single} single launches, p50 of {args.repeats} describes ({args.repeats * 5} by ID)")
    lines = [
        f"Side-by-side, {args.count} instances launched in batches of {args.batch}, {what} "
        f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}). Ratio = moto / Koala for times, "
        "Koala / moto for rates: above 1 means Koala is faster.",
        "",
        "| workload | Koala end to end | moto end to end | ratio | Koala server | moto server | ratio |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    summary = {}
    for name, (ke, ks, unit) in results["koala"].items():
        me, ms, _ = results["moto"][name]
        if unit == "/s":
            re_, rs = ke / me, ks / ms
        else:
            re_, rs = me / ke, ms / ks
        summary[name] = {"koala_e2e": ke, "moto_e2e": me, "koala_server": ks, "moto_server": ms,
                         "ratio_e2e": re_, "ratio_server": rs, "moto_cut": name in cut}
        # moto's figure, when its call was cut by the time limit, and the ratio are lower bounds.
        more = "> " if name in cut else ""
        lines.append(f"| {name} | {fmt(ke, unit)} | {fmt(me, unit)} | {ratio(re_)} | {fmt(ks, unit)} | "
                     f"{more}{fmt(ms, unit)} | {more}{ratio(rs)} |")
    if operator:
        lines += operator_lines(operator)
        if args.out:
            observer.profile_top(args.out.rsplit(".", 1)[0] + "-operator-cpu.txt")
    table = "\n".join(lines) + "\n"
    print(table)
    if args.out:
        with open(args.out, "w") as f:
            f.write(table)
        with open(args.out.rsplit(".", 1)[0] + ".json", "w") as f:
            json.dump({"count": args.count, "workloads": summary, "operator": operator}, f, indent=2)


def operator_lines(op):
    mib = 1024 * 1024
    lines = [
        "",
        f"Operator side, over the batch launches ({op['launched']} instances), until every instance ran and its volume was attached:",
        "",
        "| figure | value |",
        "| --- | ---: |",
        f"| Instance created -> VirtualMachine created p50 (watch to watch) | {fmt(op.get('vm_latency_p50', float('nan')), 's')} |",
        f"| Instance created -> VirtualMachine created p99 | {fmt(op.get('vm_latency_p99', float('nan')), 's')} |",
        *([f"| instances whose creation and VM both were sighted live (the watches were restarted "
           f"{op['watch_restarts']} times) | {op.get('vm_latency_n', 0)} |"] if op.get("watch_restarts") else []),
        f"| instance reconcile p50 (controller_runtime_reconcile_time_seconds) | {fmt(op['reconcile_p50'], 's')} |",
        f"| instance reconcile p99 | {fmt(op['reconcile_p99'], 's')} |",
        *[f"| kube-apiserver's time of {k} (a write the reconcile waits for) p50 / p99 | {fmt(p50, 's')} / {fmt(p99, 's')} |"
          for k, (p50, p99) in op.get("apiserver_write_latency", {}).items()],
        f"| first Instance created -> every instance running, volumes attached | {fmt(op['all_running_after'], 's')} |",
        f"| instance reconciles per launched instance | {op['reconciles'] / op['launched']:.2f} |",
        *([f"| volume reconciles per launched instance (one root volume each) | {op['volume_reconciles'] / op['launched']:.2f} |"]
          if "volume_reconciles" in op else []),
        *([f"| instances running when read (of {op['launched']}) | {op['running_at_end']} |"] if "running_at_end" in op else []),
        f"| instance reconcile errors | {op['reconcile_errors']:.0f} |",
        f"| operator's API writes per launched instance (its rest_client_requests_total) | {op['operator_writes_per_instance']:.2f} |",
        f"| koala-operator RSS at the end (peak) | {op['operator_VmRSS'] / mib:.0f} MiB ({op['operator_VmHWM'] / mib:.0f} MiB) |",
        f"| koala-ec2 RSS at the end (peak) | {op['ec2_VmRSS'] / mib:.0f} MiB ({op['ec2_VmHWM'] / mib:.0f} MiB) |",
        *([f"| koala-operator live heap after a forced collection (per launched instance) | "
           f"{op['operator_live_heap'] / mib:.0f} MiB ({op['operator_live_heap'] / op['launched'] / 1024:.1f} KiB) |"]
          if "operator_live_heap" in op else []),
        *([f"| day 2: {op['day2_instances']} instances stopped and started again, all others running: instance reconcile "
           f"p50 / p99 ({op['day2_reconciles']:.0f} reconciles, {op['day2_reconcile_errors']:.0f} errors) | "
           f"{fmt(op['day2_reconcile_p50'], 's')} / {fmt(op['day2_reconcile_p99'], 's')} |"] if "day2_reconcile_p99" in op else []),
        *([f"| day 2, paced: {op['paced_instances']} other instances stopped one per call, {op['paced_rate']} calls a second, "
           f"then started again alike: instance reconcile p50 / p99 ({op['paced_reconciles']:.0f} reconciles, "
           f"{op['paced_reconcile_errors']:.0f} errors) | "
           f"{fmt(op['paced_reconcile_p50'], 's')} / {fmt(op['paced_reconcile_p99'], 's')} |"] if "paced_reconcile_p99" in op else []),
        *([f"| operator restarted with {op['launched']} instances: its resync of every instance took | {fmt(op['restart_resync'], 's')} |",
           f"| restart: instance reconcile p50 / p99 over the resync ({op['restart_reconciles']:.0f} reconciles) | "
           f"{fmt(op['restart_reconcile_p50'], 's')} / {fmt(op['restart_reconcile_p99'], 's')} |",
           f"| restart: API writes of the resync (its rest_client_requests_total) | {op['restart_writes']:.0f} |",
           f"| restart: koala-operator RSS once resynced (peak) | {op['restart_VmRSS'] / mib:.0f} MiB ({op['restart_VmHWM'] / mib:.0f} MiB) |",
           *([f"| restart: koala-operator live heap after a forced collection | {op['restart_live_heap'] / mib:.0f} MiB |"]
             if "restart_live_heap" in op else [])]
          if "restart_resync" in op else []),
        "",
        "kube-apiserver's apiserver_request_total, writes per launched instance by verb and resource (all clients: "
        "the endpoint creates instances and volumes, the simulator plays KubeVirt and CDI, the operator does the rest):",
        "",
        "| verb resource | per instance |",
        "| --- | ---: |",
    ]
    for k, v in op["apiserver_writes"].items():
        if v >= 0.005:
            lines.append(f"| {k} | {v:.2f} |")
    return lines


if __name__ == "__main__":
    # Run as the module bench/scale.py imports, so that both see one Cut class.
    import sidebyside
    sidebyside.main()
