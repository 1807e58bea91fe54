"""Fault injection for tests and benchmarks: ``proxy.FaultProxy``, a loopback TCP proxy that
passes, stalls, closes or slows the traffic to any upstream."""
