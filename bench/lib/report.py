"""bench/run's output: the scenarios' markdown sections, the "Targets" table, and the chart of
throughput and CPU per GiB."""
import os
import sys


def markdown(sections):
    """The whole report from (lines, targets) of each scenario that ran, in order."""
    out, targets = [], []
    for lines, scenario_targets in sections:
        out += lines
        targets += scenario_targets
    if targets:
        out += ["", "### Targets\n", "| target | measured | limit | met |", "|---|---:|---:|:---:|"]
        out += [f"| {what} | {figure} | {limit} | {'yes' if met else '**no**'} |" for what, figure, limit, met in targets]
    return "\n".join(out)


def chart(rows, path):
    """Bar chart of the throughput rows (MB/s; CPU s/GiB of both hops) at `path`; None without
    matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(no chart: matplotlib is not installed; pip install matplotlib)", file=sys.stderr)
        return None
    directions = [d for d in ("download", "upload") if any(r[0] == d for r in rows)]
    modes = list(dict.fromkeys(r[1] for r in rows))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    width = 0.8 / max(1, len(modes))
    for i, mode in enumerate(modes):
        rates = [next((r[2] for r in rows if r[0] == d and r[1] == mode), 0) for d in directions]
        ax1.bar([x + i * width for x in range(len(directions))], rates, width, label=mode, color=f"C{i}")
    ax1.set_xticks([x + width * (len(modes) - 1) / 2 for x in range(len(directions))], directions)
    ax1.set_ylabel("MB/s")
    ax1.set_title("Throughput (higher is better)")
    ax1.legend(fontsize=8)
    cpu_modes = [m for m in modes if m != "direct"]
    width = 0.8 / max(1, len(cpu_modes))
    for i, mode in enumerate(cpu_modes):
        first = [next((r[3] or 0 for r in rows if r[0] == d and r[1] == mode), 0) for d in directions]
        second = [next((r[4] or 0 for r in rows if r[0] == d and r[1] == mode), 0) for d in directions]
        xs = [x + i * width for x in range(len(directions))]
        color = f"C{modes.index(mode)}"  # the same colour as in the throughput panel
        ax2.bar(xs, first, width, label=mode, color=color)
        ax2.bar(xs, second, width, bottom=first, color=color, alpha=0.45, hatch="//")
    ax2.set_xticks([x + width * (len(cpu_modes) - 1) / 2 for x in range(len(directions))], directions)
    ax2.set_ylabel("CPU s/GiB")
    ax2.set_title("CPU per GiB: relay or 1st socat (solid) + gateway or 2nd socat (hatched)", fontsize=9)
    ax2.legend(fontsize=8)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def chart_rtt(figures, path):
    """Line charts of the rtt scenario against the RTT: round trip p50, download MB/s and the
    package-manager total, relay and null chain; None without matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(no RTT chart: matplotlib is not installed; pip install matplotlib)", file=sys.stderr)
        return None
    rtts = list(figures["rtts"])
    paths = list(figures["rtts"][rtts[0]])
    panels = (("connect → (CONNECT → 200 →) echo p50, ms", lambda f: sorted(f["echo"])[len(f["echo"]) // 2]),
              ("download MB/s", lambda f: f["mbps"]),
              (f"{figures['requests']} HTTPS requests, new connection each, s", lambda f: f["total"]))
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for ax, (title, value) in zip(axes, panels):
        for i, name in enumerate(paths):
            ax.plot(rtts, [value(figures["rtts"][r][name]) for r in rtts], marker="o", label=name,
                    color="C3" if name == "tunnel ws" else "C1")
        ax.set_xticks(rtts)
        ax.set_xlabel("workload ↔ gateway RTT, ms")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=8)
    if figures["link"] != "veth":
        fig.suptitle("link: user-space TUN forwarder (no netem in this kernel); its ceiling caps MB/s", fontsize=9)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    return path
