"""`cryptoradar replay` on archive files in microseconds (spot since 2025) and milliseconds, and on a recorded
session: the same events either way, through the detectors, with a summary table of what was replayed."""

from __future__ import annotations

import asyncio
import csv
import gzip
import io
import json
import zipfile
from collections import Counter
from pathlib import Path

from rich.console import Console

from conftest import shared_data
from cryptoradar.cli.replay import events_of, run_replay
from cryptoradar.config import load_settings
from cryptoradar.events import Bar, Event, Trade
from cryptoradar.sources.replay import replay

ADA = "ADABTC-1m-2021-11-27.csv"


def write_agg_trades(path: Path, scale: int) -> Path:
    """Real XRPETH aggTrades in the spot archive layout, timestamps multiplied by `scale` (1000: µs)."""
    with gzip.open(shared_data() / "candles" / "XRP_ETH-aggtrades.json.gz") as f:
        infos = [item["info"] for item in json.load(f)[:300]]
    with path.open("w", newline="") as out:
        csv.writer(out).writerows(
            [i["a"], i["p"], i["q"], i["f"], i["l"], int(i["T"]) * scale, i["m"], i["M"]] for i in infos
        )
    return path


def micro_klines(path: Path) -> Path:
    with (shared_data() / "archive" / ADA).open(newline="") as f:
        rows = list(csv.reader(f))
    with path.open("w", newline="") as out:
        csv.writer(out).writerows(
            [str(int(r[0]) * 1000), *r[1:6], str(int(r[6]) * 1000 + 999), *r[7:]] for r in rows
        )
    return path


async def collect(path: Path) -> list[Event]:
    return [event async for event in events_of(path, None)]


async def test_microsecond_and_millisecond_archives_replay_to_the_same_events(tmp_path: Path) -> None:
    (tmp_path / "ms").mkdir()
    (tmp_path / "us").mkdir()
    ms_trades = write_agg_trades(tmp_path / "ms" / "XRPETH-aggTrades-2019-10-11.csv", 1)
    us_csv = write_agg_trades(tmp_path / "us" / "XRPETH-aggTrades-2019-10-11.csv", 1000)
    us_trades = us_csv.with_suffix(".zip")
    with zipfile.ZipFile(us_trades, "w") as archive:  # as downloaded: a zip holding the CSV
        archive.write(us_csv, us_csv.name)

    trades = await collect(ms_trades)
    assert len(trades) == 300
    assert all(isinstance(t, Trade) for t in trades)
    assert await collect(us_trades) == trades
    first = trades[0]
    assert isinstance(first, Trade)
    assert first.ts_event_ns % 1_000_000 == 0  # ms precision, scaled to ns, not µs read as ms
    assert 1_500_000_000 * 10**9 < first.ts_event_ns < 1_600_000_000 * 10**9

    bars = await collect(shared_data() / "archive" / ADA)
    assert len(bars) == 1440
    assert await collect(micro_klines(tmp_path / "us" / ADA)) == bars
    assert all(isinstance(b, Bar) and b.closed for b in bars)


async def test_replay_command_summarises_archives_and_recordings(tmp_path: Path) -> None:
    trades = write_agg_trades(tmp_path / "XRPETH-aggTrades-2025-01-01.csv", 1000)
    klines = micro_klines(tmp_path / ADA)
    session = shared_data() / "ws" / "spot-session-1.txt"
    recorded = Counter(type(e).__name__ for e in [e async for e in replay(session)])
    out = io.StringIO()
    await run_replay(
        load_settings(), [trades, klines, session], None, Console(file=out, width=120), asyncio.Event()
    )
    rows = {
        cells[0]: int(cells[1].replace(",", ""))
        for line in out.getvalue().splitlines()
        if len(cells := [c.strip() for c in line.strip("│┃ ").split("│")]) == 2 and cells[1].replace(",", "").isdigit()
    }  # fmt: skip
    assert rows["events: Trade"] == 300 + recorded["Trade"]
    assert rows["events: Bar"] == 1440 + recorded["Bar"]
    for kind, count in recorded.items():
        assert rows[f"events: {kind}"] >= count
