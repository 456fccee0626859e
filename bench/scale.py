"""The reduced workload for large sizes (--only scale): server times only (signed raw
HTTP), each describe run a few times on Koala and once on moto, whose DescribeInstances
of 10,000 instances takes minutes per page of 1,000.

Koala goes first and alone: its launches, the operator's figures once every instance
runs (or at --settle-deadline; the table says how many ran by then), its describes,
two day-2 phases while all the others run (a batch stopped and started again, one call
for the whole batch; then another batch, one instance per call at a steady pace) and a
restart of the operator (its resync of every instance). Then moto: its launches and
describes, each with a time limit (--moto-timeout): a call cut by it is reported as a
lower bound ("> limit"), and the ratio too. Where moto is timed on its first page only,
the table says so and the ratio compares it with Koala's whole paginated answer: a
lower bound of the real ratio.
"""
import statistics
import time

from sidebyside import INSTANCE_ID, Cut, count_raw, paged, state_filter


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


def wait_until(done, deadline, what):
    while not done():
        if time.time() > deadline:
            raise RuntimeError(f"koala: {what} after the deadline")
        time.sleep(2)


def day2(t, ids, timeout=900):
    """With every other instance running, stops `ids` and starts them again, waiting for
    each: the operator's reconciles of a cluster that holds all the instances (each
    reconcile reads its instance's objects among all the others), not those of a
    launch storm. Returns the instance reconcile p50 and p99 over that time."""
    obs = t.observer
    before = obs.operator()
    ids_params = {f"InstanceId.{i + 1}": v for i, v in enumerate(ids)}
    deadline = time.time() + timeout
    t.raw(dict(ids_params, Action="StopInstances"))
    wait_until(lambda: count_raw(t, state_filter("stopped")) >= len(ids), deadline, f"{len(ids)} instances not stopped")
    t.raw(dict(ids_params, Action="StartInstances"))
    wait_until(lambda: count_raw(t, state_filter("pending")) == 0, deadline, "started instances not running")
    time.sleep(5)  # the last status writes
    p50, p99, n, errors = obs._reconcile(before, obs.operator())
    return {"day2_instances": len(ids), "day2_reconcile_p50": p50, "day2_reconcile_p99": p99,
            "day2_reconciles": n, "day2_reconcile_errors": errors}


# PACED_RATE is the pace of the paced day 2, in calls per second: 18,000 state changes
# an hour, far more than a cloud of 10,000 instances sees in a working day, and still
# a pace the API server of a small cluster keeps up with.
PACED_RATE = 5


def day2_paced(t, ids, timeout=900):
    """As day2, but one instance per call, PACED_RATE calls a second: each instance is
    stopped, then (once all are stopped) each is started again. The operator's
    reconciles of a cluster of all the instances, with the API server not saturated by
    a storm (day2 sends a hundred state changes at once): the reconcile time of a
    cloud in everyday use."""
    obs = t.observer
    before = obs.operator()
    deadline = time.time() + timeout

    def paced(action):
        for v in ids:
            start = time.time()
            t.raw({"Action": action, "InstanceId.1": v})
            time.sleep(max(0.0, 1 / PACED_RATE - (time.time() - start)))

    paced("StopInstances")
    wait_until(lambda: count_raw(t, state_filter("stopped")) >= len(ids), deadline, f"{len(ids)} instances not stopped")
    paced("StartInstances")
    wait_until(lambda: count_raw(t, state_filter("pending")) == 0, deadline, "started instances not running")
    time.sleep(5)  # the last status writes
    p50, p99, n, errors = obs._reconcile(before, obs.operator())
    return {"paced_instances": len(ids), "paced_rate": PACED_RATE, "paced_reconcile_p50": p50,
            "paced_reconcile_p99": p99, "paced_reconciles": n, "paced_reconcile_errors": errors}


def bounded(fn):
    """(seconds, True) when fn's call to moto was cut by its time limit, else (fn(), False)."""
    try:
        return fn(), False
    except Cut as e:
        return e.seconds, True


def run(koala, moto, count, batch, repeats, settle_deadline, moto_timeout):
    r, cut = {}, set()

    def row(name, k, m, unit="s"):
        r[name] = (k, m, unit)

    # Koala, alone on the machine.
    koala.observer.start()
    koala_ids, koala_rate = launch(koala, count, batch)
    end = time.time() + settle_deadline

    def settled():
        while time.time() < end:
            if count_raw(koala, state_filter("pending")) == 0:
                return
            time.sleep(10)

    op = koala.observer.finish(koala_ids, settled)
    op["running_at_end"] = count_raw(koala, state_filter("running"))
    op.update(koala.observer.rss())

    tag = {"Action": "DescribeInstances", "Filter.1.Name": "tag:batch", "Filter.1.Value.1": "3"}
    one_k = koala_ids[len(koala_ids) // 2]
    k = {
        "all": median_of(lambda: paged(koala, "DescribeInstances", 1000), repeats),
        "first": median_of(lambda: paged(koala, "DescribeInstances", 1000, True), repeats),
        "tag": median_of(lambda: koala.raw(tag)[0], repeats),
        "state": median_of(lambda: koala.raw(state_filter("stopped"))[0], repeats),
        "id": median_of(lambda: koala.raw({"Action": "DescribeInstances", "InstanceId.1": one_k})[0], repeats * 5),
        "volumes": median_of(lambda: paged(koala, "DescribeVolumes", 500, True), repeats),
    }
    if op["running_at_end"] >= count:
        op.update(day2(koala, koala_ids[:batch]))
        op.update(day2_paced(koala, koala_ids[batch:2 * batch]))
        op.update(koala.observer.restart_operator(count))

    # moto, the cheap calls first: a call cut by the time limit leaves moto busy with it.
    moto_ids, moto_rate = launch(moto, count, batch)
    one_m = moto_ids[len(moto_ids) // 2]
    moto.limit(moto_timeout)
    m, mcut = {}, {}
    m["state"], mcut["state"] = bounded(lambda: moto.raw(state_filter("stopped"))[0])
    m["id"], mcut["id"] = bounded(lambda: median_of(
        lambda: moto.raw({"Action": "DescribeInstances", "InstanceId.1": one_m})[0], repeats))
    m["first"], mcut["first"] = bounded(lambda: paged(moto, "DescribeInstances", 1000, True))
    m["tag"], mcut["tag"] = bounded(lambda: moto.raw(tag)[0])
    m["volumes"], mcut["volumes"] = bounded(lambda: paged(moto, "DescribeVolumes", 500, True))

    row(f"Launch rate, batches of {batch} (instances/s)", koala_rate, moto_rate, "/s")
    names = {
        "first": f"DescribeInstances, first page of 1000 of {count} p50",
        "all": f"DescribeInstances, all {count}, moto first page only, a lower bound p50",
        "tag": f"DescribeInstances by tag ({batch} match) p50",
        "state": "DescribeInstances by state, none stopped p50",
        "id": "DescribeInstances by ID p50",
        "volumes": f"DescribeVolumes, first page of 500 of {count} p50",
    }
    for key, name in names.items():
        mkey = "first" if key == "all" else key
        row(name, k[key], m[mkey])
        if mcut[mkey]:
            cut.add(name)
    return r, op, cut

