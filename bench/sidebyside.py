#!/usr/bin/env python3
"""Side-by-side benchmark: the same boto3 workload (instances, then volumes) against
Koala's local stack and moto_server, in one run, each figure taken twice:

  end to end  - through boto3, what a user waits for (includes boto3's XML parsing,
                about 0.4 s per 1,000 instances on these machines);
  server      - signed raw HTTP requests whose responses are read but not parsed, so
                the figure is the server's (and the loopback's) time.

Prints a markdown table of figures and ratios (moto / Koala: above 1 means Koala is
faster) and writes it to --out.
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
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

NEXT_TOKEN = re.compile(rb"<nextToken>([^<]+)</nextToken>")
INSTANCE_ID = re.compile(rb"<instanceId>(i-[0-9a-f]+)</instanceId>")


class Target:
    def __init__(self, name, endpoint, region, key, secret, image_query):
        self.name = name
        self.endpoint = endpoint
        self.region = region
        self.creds = Credentials(key, secret)
        self.client = boto3.client(
            "ec2", endpoint_url=endpoint, region_name=region,
            aws_access_key_id=key, aws_secret_access_key=secret,
            config=Config(retries={"max_attempts": 1}, max_pool_connections=4))
        u = urllib.parse.urlparse(endpoint)
        self.host, self.port = u.hostname, u.port
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=300)
        self.image = image_query(self.client)

    def raw(self, params):
        """One signed POST; the body is read, not parsed. Returns (seconds, body)."""
        params = dict(params, Version="2016-11-15")
        body = urllib.parse.urlencode(params)
        req = AWSRequest(method="POST", url=self.endpoint + "/", data=body,
                         headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
        SigV4Auth(self.creds, "ec2", self.region).add_auth(req)
        headers = dict(req.headers.items())
        start = time.perf_counter()
        self.conn.request("POST", "/", body=body, headers=headers)
        resp = self.conn.getresponse()
        data = resp.read()
        elapsed = time.perf_counter() - start
        if resp.status != 200:
            raise RuntimeError(f"{self.name} {params['Action']}: HTTP {resp.status}: {data[:300]!r}")
        return elapsed, data


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
        out = c.run_instances(ImageId=t.image, InstanceType="t3.micro", MinCount=1, MaxCount=1)
        e2e.append(time.perf_counter() - start)
        settle(out["Instances"][0]["InstanceId"])
        secs, body = t.raw({"Action": "RunInstances", "ImageId": t.image, "InstanceType": "t3.micro",
                            "MinCount": "1", "MaxCount": "1"})
        srv.append(secs)
        settle(INSTANCE_ID.search(body).group(1).decode())
    r["RunInstances (1) p50"] = (statistics.median(e2e), statistics.median(srv), "s")
    r["RunInstances (1) p99"] = (pct(e2e, 99), pct(srv, 99), "s")

    # Launch `count` more in batches, each batch tagged, half through boto3, half raw.
    ids = []
    launched_e2e = launched_srv = 0
    e2e_time = srv_time = 0.0
    for b in range(count // batch):
        tags = [{"ResourceType": "instance", "Tags": [{"Key": "batch", "Value": str(b)}]}]
        if b % 2 == 0:
            start = time.perf_counter()
            out = c.run_instances(ImageId=t.image, InstanceType="t3.micro", MinCount=batch, MaxCount=batch,
                                  TagSpecifications=tags)
            e2e_time += time.perf_counter() - start
            launched_e2e += batch
            ids += [i["InstanceId"] for i in out["Instances"]]
        else:
            secs, body = t.raw({"Action": "RunInstances", "ImageId": t.image, "InstanceType": "t3.micro",
                                "MinCount": str(batch), "MaxCount": str(batch),
                                "TagSpecification.1.ResourceType": "instance",
                                "TagSpecification.1.Tag.1.Key": "batch", "TagSpecification.1.Tag.1.Value": str(b)})
            srv_time += secs
            launched_srv += batch
            ids += [m.decode() for m in INSTANCE_ID.findall(body)]
    r[f"Launch rate, batches of {batch} (instances/s)"] = (launched_e2e / e2e_time, launched_srv / srv_time, "/s")

    # DescribeInstances of everything, paginated.
    def describe_all_e2e():
        n = 0
        for page in c.get_paginator("describe_instances").paginate(PaginationConfig={"PageSize": 1000}):
            for res in page["Reservations"]:
                n += len(res["Instances"])
        return n

    def describe_all_raw():
        token, total = None, 0.0
        while True:
            params = {"Action": "DescribeInstances", "MaxResults": "1000"}
            if token:
                params["NextToken"] = token
            secs, body = t.raw(params)
            total += secs
            m = NEXT_TOKEN.search(body)
            if not m:
                return total
            token = m.group(1).decode()

    seen = describe_all_e2e()
    if seen < count:
        raise RuntimeError(f"{t.name}: DescribeInstances saw {seen} instances, expected at least {count}")
    e2e = timed(describe_all_e2e, repeats)
    srv = [describe_all_raw() for _ in range(repeats)]
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

    r.update(volume_workload(t, count, repeats))
    return r, seen


def settle(t, count):
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
    settle(t, count)
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

    def describe_all_raw():
        token, total = None, 0.0
        while True:
            params = {"Action": "DescribeVolumes", "MaxResults": "500"}
            if token:
                params["NextToken"] = token
            secs, body = t.raw(params)
            total += secs
            m = NEXT_TOKEN.search(body)
            if not m:
                return total
            token = m.group(1).decode()

    seen, one = describe_all_e2e()
    if seen < count:
        raise RuntimeError(f"{t.name}: DescribeVolumes saw {seen} volumes, expected at least {count}")
    e2e = timed(describe_all_e2e, repeats)
    srv = [describe_all_raw() for _ in range(repeats)]
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
            t.raw({"Action": "RunInstances", "ImageId": t.image, "InstanceType": "t3.micro",
                   "MinCount": str(batch), "MaxCount": str(batch)})
    for t in targets:
        settle(t, count)
    time.sleep(6)  # Koala's throttling bucket refills (see volume_workload)

    def describe_all_e2e(t):
        n, mid = 0, None
        for page in t.client.get_paginator("describe_volumes").paginate(PaginationConfig={"PageSize": 500}):
            n += len(page["Volumes"])
            if mid is None and page["Volumes"]:
                mid = page["Volumes"][len(page["Volumes"]) // 2]["VolumeId"]
        return n, mid

    def describe_all_raw(t):
        token, total = None, 0.0
        while True:
            params = {"Action": "DescribeVolumes", "MaxResults": "500"}
            if token:
                params["NextToken"] = token
            secs, body = t.raw(params)
            total += secs
            m = NEXT_TOKEN.search(body)
            if not m:
                return total
            token = m.group(1).decode()

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
            s["all_srv"].append(describe_all_raw(t))
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


def fmt(v, unit):
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
    ap.add_argument("--only", choices=["volumes"], help="run only this part of the workload")
    args = ap.parse_args()

    env = {}
    for line in open(args.koala_env):
        m = re.match(r"export (\w+)=(.*)", line.strip())
        if m:
            env[m.group(1)] = m.group(2)
    koala = Target("koala", env["AWS_ENDPOINT_URL"], env["AWS_DEFAULT_REGION"],
                   env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], koala_image)
    moto = Target("moto", args.moto, "us-east-1", "testing", "testing", moto_image)

    results = {}
    if args.only == "volumes":
        print("running the volume workload against moto and koala ...", file=sys.stderr)
        results = volumes_only((moto, koala), args.count, args.batch, args.repeats)
    for t in (moto, koala):
        if args.only:
            break
        print(f"running the workload against {t.name} ...", file=sys.stderr)
        results[t.name], _ = run_workload(t, args.count, args.batch, args.repeats, args.single)

    lines = [
        f"Side-by-side, {args.count} instances launched in batches of {args.batch}, one run "
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
                         "ratio_e2e": re_, "ratio_server": rs}
        lines.append(f"| {name} | {fmt(ke, unit)} | {fmt(me, unit)} | {re_:.1f}x | {fmt(ks, unit)} | {fmt(ms, unit)} | {rs:.1f}x |")
    table = "\n".join(lines) + "\n"
    print(table)
    if args.out:
        with open(args.out, "w") as f:
            f.write(table)
        with open(args.out.rsplit(".", 1)[0] + ".json", "w") as f:
            json.dump(summary, f, indent=2)


if __name__ == "__main__":
    main()
