"""Scenario labels are written and the bars really show what the labels claim."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from cryptoradar.sim import LabelKind, Simulator

from .conftest import MANUAL


async def test_labels_match_the_bars(tmp_path: Path) -> None:
    truth_path = tmp_path / "truth.jsonl"
    async with Simulator(replace(MANUAL, ground_truth_path=truth_path)) as sim:
        await sim.advance_to(sim.now_ms() + 75 * 60_000)
        labels = sim.labels
        kinds = {lb.kind for lb in labels}
        assert kinds == set(LabelKind)
        assert len(truth_path.read_text().splitlines()) == len(labels)
        assert json.loads(truth_path.read_text().splitlines()[0])["kind"] in {k.value for k in LabelKind}
        breakouts = [lb for lb in labels if lb.kind is LabelKind.MOMENTUM_BREAKOUT]
        assert breakouts
        for lb in breakouts:
            bars = sim.closed_bars(lb.symbol, "1m")
            i = next(k for k, b in enumerate(bars) if b[0] == lb.start_ms)
            window = bars[i : i + int(lb.params["bars"])]
            assert window[-1][0] + 60_000 - 1 == lb.end_ms
            sign = 1.0 if lb.direction == "up" else -1.0
            move = sign * (float(window[-1][4]) / float(window[0][1]) - 1.0) * 100.0
            assert move == pytest.approx(float(lb.params["move_pct"]), rel=0.02)
            assert move > 8.0
            before = np.array([float(b[7]) for b in bars[max(0, i - 300) : i]])
            assert min(float(b[7]) for b in window) > 3.0 * before.mean()
            for gap in (lb.params["trend_gap_15m_pct"], lb.params["trend_gap_1h_pct"]):
                assert sign * float(gap) >= float(lb.params["min_trend_gap_pct"])
        cross = next(lb for lb in labels if lb.kind is LabelKind.EMA_CROSS_CONFLUENCE)
        assert cross.symbol == "BTCUSDT"
        assert cross.start_ms <= int(cross.params["cross_open_ms"]) <= cross.end_ms
