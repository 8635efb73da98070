"""`cryptoradar replay`: recorded frames or archive files through the live parse path and the detectors."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from cryptoradar.config import Settings
from cryptoradar.detectors.engine import DetectorSet
from cryptoradar.events import Event
from cryptoradar.sources.archive import import_agg_trades, import_klines, parse_archive_name
from cryptoradar.sources.replay import replay


async def events_of(path: Path, pace: float | None) -> AsyncIterator[Event]:
    """A recording (at `pace`) or an archive file (kind from its name) as events, through the parsers."""
    name = parse_archive_name(path)
    if name is None:
        async for event in replay(path, pace=pace):
            yield event
        return
    archived: list[Event] = []
    if name.kind == "aggTrades":
        archived.extend(import_agg_trades(path)[0])
    else:
        archived.extend(import_klines(path)[0])
    for event in archived:
        yield event


async def run_replay(
    settings: Settings, files: list[Path], pace: float | None, console: Console, stop: asyncio.Event
) -> None:
    detectors = DetectorSet(settings.detectors)
    events: Counter[str] = Counter()
    signals: Counter[str] = Counter()
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("replaying", total=len(files))
        for path in files:
            progress.update(task, description=f"replaying {path.name}")
            async for event in events_of(path, pace):
                events[type(event).__name__] += 1
                for signal in detectors.on_event(event):
                    signals[f"{signal.detector}/{signal.kind}"] += 1
                if stop.is_set():
                    break
            progress.advance(task)
    for signal in detectors.flush():
        signals[f"{signal.detector}/{signal.kind}"] += 1
    table = Table(title="replay summary")
    table.add_column("what")
    table.add_column("count", justify="right")
    for kind, count in sorted(events.items()):
        table.add_row(f"events: {kind}", f"{count:,}")
    for kind, count in sorted(signals.items()):
        table.add_row(f"signals: {kind}", f"{count:,}")
    console.print(table)
