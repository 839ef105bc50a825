"""bench/run's measurements, one module each, run in the order of ALL.

A scenario module has:

  NAME                    the name --skip takes
  measure(bed, args)      runs against the lib.testbed.Testbed `bed` (everything is started and
                          stopped by bench/run) and returns its figures; it may print progress
                          on stderr
  report(result, args)    (markdown lines, targets) for its figures; targets are
                          (what, figure, limit, met) rows of the "Targets" table. A section
                          after the first starts with an empty line.

To add one (rtt.py is a recent example, with its own hosts): write scenarios/NAME.py with these three, add
it to ALL below, and add any option it needs to bench/run's parser. report() is only called
when measure() returned something truthy.
"""
from . import instructions, latency, memory, rtt, startup, throughput

ALL = [throughput, latency, memory, startup, instructions, rtt]
