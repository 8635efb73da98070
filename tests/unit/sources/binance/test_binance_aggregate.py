"""Real XRPETH aggregate trades rebuilt into 1m bars reproduce Binance's own 1m candles."""

from __future__ import annotations

import gzip
import json

from conftest import shared_data
from cryptoradar.events import Market, Trade
from cryptoradar.sources.binance.aggregate import bars_from_trades


def test_xrp_eth_trades_rebuild_every_traded_minute() -> None:
    candles = shared_data() / "candles"
    with gzip.open(candles / "XRP_ETH-aggtrades.json.gz") as f:
        infos = [item["info"] for item in json.load(f)]
    trades = [
        Trade(Market.SPOT, "XRPETH", i["a"], float(i["p"]), float(i["q"]), i["m"], i["T"] * 10**6, 0)
        for i in infos
    ]
    reference = {row[0]: row for row in json.loads((candles / "XRP_ETH-1m.json").read_text())}
    traded_minutes = {i["T"] // 60_000 * 60_000 for i in infos}

    bars = bars_from_trades(trades, Market.SPOT, "XRPETH", "1m", 60_000)

    assert [b.open_time_ms for b in bars] == sorted(traded_minutes)
    for bar in bars:
        open_ms, o, h, lo, c, volume = reference[bar.open_time_ms]
        assert (bar.open, bar.high, bar.low, bar.close) == (o, h, lo, c), bar
        assert abs(bar.volume - volume) <= 1e-9 * max(volume, 1.0), bar
        assert bar.close_time_ms == open_ms + 59_999
        assert bar.closed
    counts = {m: 0 for m in traded_minutes}
    for i in infos:
        counts[i["T"] // 60_000 * 60_000] += 1
    assert [b.trades for b in bars] == [counts[b.open_time_ms] for b in bars]
    taker_buy = sum(float(i["q"]) for i in infos if not i["m"])
    assert abs(sum(b.taker_buy_volume for b in bars) - taker_buy) <= 1e-6 * taker_buy
