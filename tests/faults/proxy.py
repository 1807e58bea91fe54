"""The loopback fault proxy lives in ``demo.faultproxy`` (the soak benchmark uses it too); the
tests import it from here as before."""

from demo.faultproxy import MODES, FaultProxy

__all__ = ["MODES", "FaultProxy"]
