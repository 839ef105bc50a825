"""The bounds bench/soak checks (see its header for what each one means)."""

RSS_CHURN_BOUND_MIB = 8
RSS_STALL_BOUND_MIB = 32
THREAD_SLACK = 4
