"""Signal builders for the alert tests (imported as a sibling module; they live in `fakes.signals`)."""

from fakes.signals import T0_NS, S, make_signal, make_trade

__all__ = ["T0_NS", "S", "make_signal", "make_trade"]
