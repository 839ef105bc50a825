"""bench/soak: relay-init under load, churn and stalled peers.

  harness.py   the Soak run: processes, snapshots of /proc, checks, the phases in order, the table
  servers.py   the targets behind the gateway: echo and a checked stream (in the soak's loop)
  clients.py   clients in front of the relay: CONNECT, echo round trips
  waits.py     waiting on /proc figures: settled values, predicates with a deadline
  bounds.py    the bounds the checks hold the relay to
  churn.py     phases: concurrent, sequential and parallel tunnels
  stall.py     phases: a download to a stalled reader, an upload to a stalled writer
"""
