"""What on-call people get: alerts, event kinds, Prometheus metrics."""
