"""The binaries under test: relay-init, relay-gateway and relay-test-target.

Either the release build of this tree, built as the container image ships it, or a directory of
prebuilt binaries (--bin DIR), so that two builds can be measured back to back."""
import os
import subprocess
import sys

from .common import ROOT

# What the container image ships (scripts/install.sh --static-swift-stdlib, docker/Dockerfile):
# release, with the Swift runtime linked in; start-up time and RSS depend on it.
BUILD_FLAGS = ["-c", "release", "--static-swift-stdlib"]
BINARIES = ("relay-init", "relay-gateway", "relay-test-target")


def binaries(bin_dir=None, build=True):
    """The directory holding the binaries. `bin_dir` as given (it must hold all three);
    otherwise the release build's bin path, built first when `build`."""
    if bin_dir:
        bin_dir = os.path.abspath(bin_dir)
        missing = [name for name in BINARIES if not os.access(os.path.join(bin_dir, name), os.X_OK)]
        if missing:
            sys.exit(f"--bin {bin_dir}: no executable {', '.join(missing)} there")
        return bin_dir
    if build:
        subprocess.run(["swift", "build", *BUILD_FLAGS], cwd=ROOT, check=True)
    return subprocess.run(["swift", "build", *BUILD_FLAGS, "--show-bin-path"], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout.strip()
