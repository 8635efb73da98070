"""Pure, synchronous detectors: events in, `Signal`s out; no I/O, no awaits, no clock reads.

`DetectorSet` is the entry point the app and the backtest share; rules are documented in docs/detectors.md.
"""

from cryptoradar.detectors.confluence import ConfluenceDetector
from cryptoradar.detectors.confluence_state import ConfluenceState, DedupEntry
from cryptoradar.detectors.engine import DetectorSet
from cryptoradar.detectors.momentum import MomentumDetector
from cryptoradar.detectors.radar import FuturesRadar, RadarKind, RadarPattern, RadarStrength, Volatility

__all__ = [
    "ConfluenceDetector",
    "ConfluenceState",
    "DedupEntry",
    "DetectorSet",
    "FuturesRadar",
    "MomentumDetector",
    "RadarKind",
    "RadarPattern",
    "RadarStrength",
    "Volatility",
]
