"""Capped exponential backoff with full jitter, written once for every reconnecting component."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delay before attempt n is uniform in [initial_s * factor**n / 2, initial_s * factor**n], capped at max_s.

    Half-jitter keeps a floor so a reconnect storm never spins at zero delay, while still spreading
    many clients apart. `reset()` is called after a good subscribe, not merely after a connect.
    """

    initial_s: float = 1.0
    max_s: float = 60.0
    factor: float = 2.0
    rng: random.Random = field(default_factory=random.Random)
    attempts: int = 0

    def __post_init__(self) -> None:
        if self.initial_s <= 0 or self.max_s < self.initial_s or self.factor < 1.0:
            raise ValueError("backoff needs 0 < initial_s <= max_s and factor >= 1")

    def next_delay_s(self) -> float:
        ceiling = min(self.max_s, self.initial_s * self.factor**self.attempts)
        self.attempts += 1
        return self.rng.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.attempts = 0
