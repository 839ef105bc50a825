"""What /proc says about one process: CPU seconds, RSS, descriptors, threads."""
import os
import threading

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
MIB = 1 << 20


def cpu_seconds(pid):
    """utime + stime of a process (and its reaped children) in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_mib(pid):
    """Resident set size (VmRSS) of a process in MiB."""
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE_SIZE / MIB


def rss_anon_mib(pid):
    """The anonymous part of the RSS (RssAnon: heap, stacks, buffers) in MiB; the rest is
    file-backed pages of the binary and its shared libraries (RssFile), clean and shared."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class Proc:
    """One process's descriptors, VmRSS (KiB) and threads, read anew on each call."""

    def __init__(self, pid, name):
        self.pid, self.name = pid, name

    def fds(self):
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def status(self, field):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        raise KeyError(field)

    def rss_kib(self):
        return self.status("VmRSS")

    def threads(self):
        return self.status("Threads")

    def fd_targets(self):
        out = []
        for fd in os.listdir(f"/proc/{self.pid}/fd"):
            try:
                out.append(os.readlink(f"/proc/{self.pid}/fd/{fd}"))
            except OSError:
                pass
        return sorted(out)


class PeakSampler:
    """VmRSS of one process every 10 ms, in a thread: a transfer's worst moment is short."""

    def __init__(self, proc):
        self.proc, self.peak, self.stopped = proc, 0, threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stopped.wait(0.01):
            try:
                self.peak = max(self.peak, self.proc.rss_kib())
            except (OSError, KeyError):
                return

    def stop(self):
        self.stopped.set()
        self.thread.join()
        return self.peak
