#!/usr/bin/env python3
"""Reads bench/results/sidebyside-<size>.json of every size run and writes
sidebyside.md (server times and ratios by size) and, unless --no-plot, sidebyside.png:
server time of each describe workload against the instance count, Koala and moto, on
log scales. Needs matplotlib only for the plot (Debian: python3-matplotlib)."""
import glob
import re
import json
import os
import sys


def load(results_dir):
    runs = {}
    for path in glob.glob(os.path.join(results_dir, "sidebyside-[0-9]*.json")):
        with open(path) as f:
            data = json.load(f)
        if "workloads" in data:  # older files held the table only
            runs[data["count"]] = data
    return dict(sorted(runs.items()))


def short(name):
    """A workload's name without the sizes in it, so sizes line up."""
    return re.sub(r" \([^)]*\)", "", re.sub(r", all \d+", ", all", name))


def fmt(v, rate):
    if v != v:
        return "-"
    if rate:
        return f"{v:,.0f}/s"
    return f"{v * 1000:.1f} ms" if v < 1 else f"{v:.2f} s"


def summary(runs):
    sizes = list(runs)
    names = []
    for data in runs.values():
        for name in data["workloads"]:
            if short(name) not in names:
                names.append(short(name))
    head = "| workload (server time) | " + " | ".join(f"Koala {s} | moto {s} | ratio {s}" for s in sizes) + " |"
    lines = [
        "Server time (signed raw HTTP, response read, not parsed), Koala against moto_server, one run per size; "
        "ratio = moto / Koala for times, Koala / moto for rates (above 1: Koala faster). "
        "End-to-end (boto3) figures and the operator's are in sidebyside-<size>.md.",
        "",
        head,
        "| --- |" + " ---: |" * (3 * len(sizes)),
    ]
    for n in names:
        row = [n]
        for s in sizes:
            w = next((v for k, v in runs[s]["workloads"].items() if short(k) == n), None)
            if w is None:
                row += ["", "", ""]
                continue
            rate = "rate" in n
            row += [fmt(w["koala_server"], rate), fmt(w["moto_server"], rate), f"{w['ratio_server']:.1f}x"]
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "| operator | " + " | ".join(str(s) for s in sizes) + " |", "| --- |" + " ---: |" * len(sizes)]
    mib = 1024 * 1024
    rows = [
        ("Instance created -> VM created p50", lambda o: fmt(o["vm_latency_p50"], False)),
        ("Instance created -> VM created p99", lambda o: fmt(o["vm_latency_p99"], False)),
        ("instance reconcile p99", lambda o: fmt(o["reconcile_p99"], False)),
        ("instances running when the operator was read", lambda o: f"{o.get('running_at_end', o['launched'])} of {o['launched']}"),
        ("operator API writes per launched instance (partial where not all ran)", lambda o: f"{o['operator_writes_per_instance']:.2f}"),
        ("koala-operator RSS", lambda o: f"{o['operator_VmRSS'] / mib:.0f} MiB"),
        ("koala-ec2 RSS", lambda o: f"{o['ec2_VmRSS'] / mib:.0f} MiB"),
    ]
    for label, get in rows:
        cells = []
        for s in sizes:
            op = runs[s].get("operator")
            try:
                cells.append(get(op) if op else "")
            except KeyError:
                cells.append("")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(runs, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = list(runs)
    names = []
    for data in runs.values():
        for n in data["workloads"]:
            if "rate" not in n and short(n) not in names:
                names.append(short(n))
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.5), sharex=True)
    for ax, who in zip(axes, ("koala", "moto")):
        for n in names:
            xs, ys = [], []
            for s in sizes:
                w = next((v for k, v in runs[s]["workloads"].items() if short(k) == n), None)
                if w:
                    xs.append(s)
                    ys.append(w[f"{who}_server"] * 1000)
            ax.plot(xs, ys, marker="o", label=n)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(sizes)
        ax.set_xticklabels([str(s) for s in sizes])
        ax.set_xlabel("instances")
        ax.set_ylabel("server time (ms)")
        ax.set_title({"koala": "Koala (koala-ec2)", "moto": "moto_server"}[who])
        ax.grid(True, which="both", alpha=0.3)
    lo = min(a.get_ylim()[0] for a in axes)
    hi = max(a.get_ylim()[1] for a in axes)
    for a in axes:
        a.set_ylim(lo, hi)
    axes[1].legend(fontsize=8, loc="upper left")
    fig.suptitle("Latency against instance count, server time, one run per size")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main():
    args = [a for a in sys.argv[1:] if a != "--no-plot"]
    results_dir = args[0] if args else os.path.join(os.path.dirname(__file__), "results")
    runs = load(results_dir)
    if not runs:
        sys.exit("no sidebyside-<size>.json results")
    text = summary(runs)
    with open(os.path.join(results_dir, "sidebyside.md"), "w") as f:
        f.write(text)
    print(text)
    if "--no-plot" not in sys.argv:
        plot(runs, os.path.join(results_dir, "sidebyside.png"))


if __name__ == "__main__":
    main()
