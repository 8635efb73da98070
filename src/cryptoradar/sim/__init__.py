"""The exchange simulator: a seeded, deterministic fake Binance (spot + USD-M) on 127.0.0.1.

Public API: `Simulator` (with `list_symbol` / `delist_symbol` for universe changes), `SimOptions`, `Fault`,
`FaultKind`, `FaultPlan`, `run_simulator`, plus the ground-truth `Label` schema. See `simulator.py` for the
server layout and `scenarios.py` for labels.
"""

from cryptoradar.sim.options import Fault, FaultKind, FaultPlan, ScheduledFault, SimOptions
from cryptoradar.sim.scenarios import Label, LabelKind
from cryptoradar.sim.simulator import Simulator, run_simulator
from cryptoradar.sim.stats import MarketStats, SimStats

__all__ = [
    "Fault",
    "FaultKind",
    "FaultPlan",
    "Label",
    "LabelKind",
    "MarketStats",
    "ScheduledFault",
    "SimOptions",
    "SimStats",
    "Simulator",
    "run_simulator",
]
