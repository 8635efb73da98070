"""Incremental O(1) indicators sharing one contract: `update(...)`, `value`, `ready`, `reset()`.

Definitions, seeding, readiness and the input policy are documented in `docs/indicators.md`.
"""

from cryptoradar.indicators.base import NonFiniteInputError
from cryptoradar.indicators.moving import EMA, RMA, SMA, EmaSeed
from cryptoradar.indicators.oscillators import ROC, RSI, EfficiencyRatio
from cryptoradar.indicators.protocol import Indicator
from cryptoradar.indicators.trend import ADX
from cryptoradar.indicators.volatility import ATR, RollingStats, TrueRange, ZScore, true_range
from cryptoradar.indicators.vwap import VWAP

__all__ = [
    "ADX",
    "ATR",
    "EMA",
    "RMA",
    "ROC",
    "RSI",
    "SMA",
    "VWAP",
    "EfficiencyRatio",
    "EmaSeed",
    "Indicator",
    "NonFiniteInputError",
    "RollingStats",
    "TrueRange",
    "ZScore",
    "true_range",
]
