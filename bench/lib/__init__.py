"""The library behind bench/run and bench/soak; the two scripts only parse their arguments.

  common.py      paths, small helpers (waiting for a log line, free ports, percentiles)
  build.py       the release binaries: built with the image's flags, or taken from --bin DIR
  procfs.py      what /proc says about a process: CPU seconds, RSS, descriptors, threads
  processes.py   child processes of one run, each logging to a file, stopped together
  helper.py      the echo / firehose / black-hole servers bench/run talks to (own process)
  hops.py        socat null chains, CONNECT requests and one-connection rounds
  testbed.py     bench/run's set-up: target, gateways (ws, wss), relay-init sidecars, curl
  scenarios/     bench/run's measurements, one module each (throughput, latency, memory,
                 start-up); see scenarios/__init__.py for how to add one
  report.py      markdown tables, the targets table and the chart
  profile.py     bench/run --perf
  soak/          bench/soak: its harness, target servers, clients and phases
"""
