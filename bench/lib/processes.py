"""Child processes of one run: each logs to WORK/NAME.log; stop_all ends them together."""
import os
import shutil
import signal
import subprocess
import tempfile


class Processes:
    """The work directory of a run and the processes started in it."""

    def __init__(self, prefix):
        self.work = tempfile.mkdtemp(prefix=prefix)
        self.procs = []

    def start(self, name, argv, env=None):
        """Starts `argv` with stdout and stderr in WORK/NAME.log; returns (process, log path)."""
        log = os.path.join(self.work, f"{name}.log")
        proc = subprocess.Popen(argv, stdout=open(log, "w"), stderr=subprocess.STDOUT, env=env)
        self.procs.append(proc)
        return proc, log

    def stop_all(self, remove_work=False):
        """SIGTERM to every process still running, SIGKILL after 10 s; then, if asked, removes
        the work directory."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        if remove_work:
            shutil.rmtree(self.work, ignore_errors=True)
