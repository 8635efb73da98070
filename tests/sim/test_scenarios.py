"""Scenario labels are written and the bars really show what the labels claim."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np

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
        for lb in (lb for lb in labels if lb.kind is LabelKind.MOMENTUM_BREAKOUT):
            bars = sim.closed_bars(lb.symbol, "1m")
            i = next(k for k, b in enumerate(bars) if b[0] == lb.start_ms)
            o, c = float(bars[i][1]), float(bars[i][4])
            prev_v = np.array([float(b[5]) for b in bars[i - 20 : i]])
            ranges = np.array([float(b[2]) - float(b[3]) for b in bars[i - 14 : i]])
            assert (float(bars[i][5]) - prev_v.mean()) / prev_v.std() > 3.0
            assert abs(c - o) > 2.0 * ranges.mean()
            assert (c > o) == (lb.direction == "up")
        cross = next(lb for lb in labels if lb.kind is LabelKind.EMA_CROSS_CONFLUENCE)
        assert cross.symbol == "BTCUSDT"
        assert cross.start_ms <= int(cross.params["cross_open_ms"]) <= cross.end_ms
