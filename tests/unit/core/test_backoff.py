from __future__ import annotations

import random

import pytest

from cryptoradar.core.backoff import Backoff


def test_delays_grow_stay_within_jitter_band_and_cap() -> None:
    backoff = Backoff(initial_s=1.0, max_s=8.0, factor=2.0, rng=random.Random(1))
    ceilings = [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    for ceiling in ceilings:
        delay = backoff.next_delay_s()
        assert ceiling / 2 <= delay <= ceiling


def test_reset_starts_over() -> None:
    backoff = Backoff(initial_s=0.5, max_s=60.0, rng=random.Random(2))
    for _ in range(5):
        backoff.next_delay_s()
    backoff.reset()
    assert backoff.next_delay_s() <= 0.5


def test_jitter_spreads_clients_apart() -> None:
    delays = {
        Backoff(initial_s=1.0, max_s=60.0, rng=random.Random(seed)).next_delay_s() for seed in range(20)
    }
    assert len(delays) == 20


@pytest.mark.parametrize(
    ("initial", "maximum", "factor"), [(0.0, 1.0, 2.0), (2.0, 1.0, 2.0), (1.0, 2.0, 0.5)]
)
def test_invalid_parameters_are_rejected(initial: float, maximum: float, factor: float) -> None:
    with pytest.raises(ValueError, match="backoff needs"):
        Backoff(initial_s=initial, max_s=maximum, factor=factor)
