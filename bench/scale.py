"""The reduced workload for large sizes (--only scale): server times only (signed raw
HTTP), each describe run a few times on Koala and once on moto, whose DescribeInstances
of 10,000 instances takes minutes per page of 1,000. Where moto is timed on its first
page only, the table says so and the ratio compares it with Koala's whole paginated
answer: a lower bound of the real ratio.

The operator's figures (bench/koalaside.py) are read once every instance runs, or at
--settle-deadline, whichever comes first; the table says how many ran by then.
"""
import statistics
import time

from sidebyside import INSTANCE_ID, count_raw, paged


def launch(t, count, batch):
    """Launches count instances in batches, raw; returns their IDs and the launch rate."""
    ids, spent = [], 0.0
    for b in range(count // batch):
        secs, body = t.run_raw(batch, {"TagSpecification.1.ResourceType": "instance",
                                       "TagSpecification.1.Tag.1.Key": "batch", "TagSpecification.1.Tag.1.Value": str(b)})
        spent += secs
        ids += [m.decode() for m in INSTANCE_ID.findall(body)]
    return ids, len(ids) / spent


def median_of(fn, n):
    return statistics.median(fn() for _ in range(n))


def run(koala, moto, count, batch, repeats, settle_deadline):
    r = {}

    def row(name, k, m, unit="s"):
        r[name] = (k, m, unit)

    koala.observer.start()
    koala_ids, koala_rate = launch(koala, count, batch)
    _, moto_rate = launch(moto, count, batch)
    row(f"Launch rate, batches of {batch} (instances/s)", koala_rate, moto_rate, "/s")

    koala_all = median_of(lambda: paged(koala, "DescribeInstances", 1000), repeats)
    koala_first = median_of(lambda: paged(koala, "DescribeInstances", 1000, True), repeats)
    moto_first = paged(moto, "DescribeInstances", 1000, True)
    row(f"DescribeInstances, first page of 1000 of {count} p50", koala_first, moto_first)
    row(f"DescribeInstances, all {count}, moto first page only, a lower bound p50", koala_all, moto_first)

    tag = {"Action": "DescribeInstances", "Filter.1.Name": "tag:batch", "Filter.1.Value.1": "3"}
    row(f"DescribeInstances by tag ({batch} match) p50", median_of(lambda: koala.raw(tag)[0], repeats), moto.raw(tag)[0])
    state = {"Action": "DescribeInstances", "Filter.1.Name": "instance-state-name", "Filter.1.Value.1": "stopped"}
    row("DescribeInstances by state, none stopped p50",
        median_of(lambda: koala.raw(state)[0], repeats), moto.raw(state)[0])
    one_k, one_m = koala_ids[len(koala_ids) // 2], None
    moto_ids = INSTANCE_ID.findall(moto.raw({"Action": "DescribeInstances", "Filter.1.Name": "tag:batch",
                                              "Filter.1.Value.1": "7"})[1])
    one_m = moto_ids[0].decode()
    row("DescribeInstances by ID p50", median_of(lambda: koala.raw({"Action": "DescribeInstances", "InstanceId.1": one_k})[0], repeats * 5),
        median_of(lambda: moto.raw({"Action": "DescribeInstances", "InstanceId.1": one_m})[0], repeats))
    row(f"DescribeVolumes, first page of 500 of {count} p50", median_of(lambda: paged(koala, "DescribeVolumes", 500, True), repeats),
        paged(moto, "DescribeVolumes", 500, True))

    # The operator's side: until everything runs, or the deadline.
    end = time.time() + settle_deadline

    def settled():
        while time.time() < end:
            if count_raw(koala, {"Action": "DescribeInstances", "Filter.1.Name": "instance-state-name",
                                 "Filter.1.Value.1": "pending"}) == 0:
                return
            time.sleep(10)

    op = koala.observer.finish(koala_ids, settled, vm_deadline=settle_deadline)  # both within `end`
    op["running_at_end"] = count_raw(koala, {"Action": "DescribeInstances", "Filter.1.Name": "instance-state-name",
                                             "Filter.1.Value.1": "running"})
    op.update(koala.observer.rss())
    return r, op
