"""The benchmark's child process: one `WalletMonitor` reporting every detection back with a wall stamp."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from multiprocessing.queues import Queue as MpQueue
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path
from typing import Protocol

from pydantic import SecretStr

from cryptoradar.config.evm import ChainConfig, EvmConfig, TokenInfo, WatchConfig, WatchedWallet
from cryptoradar.core.clock import SystemClock
from cryptoradar.core.metrics import PARSE_ERRORS, RECONNECTS
from cryptoradar.events import Event, WalletTrade
from cryptoradar.sources.evm.monitor import WalletMonitor
from cryptoradar.sources.evm.processor import WalletStore


class ClosableWalletStore(WalletStore, Protocol):
    async def close(self) -> None: ...


StoreFactory = Callable[[Path], Awaitable[ClosableWalletStore]]
"""Opens the monitor's store at a path, e.g. `SqliteWalletStore.open`. Must pickle (a module-level
function or a class's classmethod): it crosses into the spawned child process."""


@dataclass(frozen=True)
class WorkerArgs:
    ws_url: str
    http_url: str
    websocket: bool
    polling_interval_s: float
    block_time_s: float
    wallets: tuple[str, ...]
    token: str
    db_path: str
    open_store: StoreFactory


def run_worker(args: WorkerArgs, out: MpQueue[tuple[object, ...]], stop: MpEvent) -> None:
    """Process entry point. Sends ("ready",), ("trade", tx, wallet, removed, ns)...,
    ("stats", reconnects, bad_input, "reason=count; ...")."""
    asyncio.run(_main(args, out, stop))


async def _main(args: WorkerArgs, out: MpQueue[tuple[object, ...]], stop: MpEvent) -> None:
    config = EvmConfig(
        enabled=True,
        chains=(
            ChainConfig(
                name="bench",
                ws_url=SecretStr(args.ws_url),
                http_url=SecretStr(args.http_url),
                websocket_enabled=args.websocket,
                block_time_hint_s=args.block_time_s,
                fallback_polling_interval_s=args.polling_interval_s,
                open_timeout_s=1.0,
                request_timeout_s=3.0,
                ping_interval_s=2.0,
                ping_timeout_s=2.0,
            ),
        ),
        wallets=tuple(
            WatchedWallet(address=w, label=f"w{i}", chain="bench") for i, w in enumerate(args.wallets)
        ),
        watch=WatchConfig(
            erc20_tokens=(args.token,),
            erc1155=False,
            tokens=(TokenInfo(address=args.token, symbol="TST", decimals=6),),
        ),
    )

    async def emit(event: Event) -> None:
        if isinstance(event, WalletTrade):
            out.put(("trade", event.tx_hash, event.wallet, event.removed, time.time_ns()))

    store = await args.open_store(Path(args.db_path))
    monitor = WalletMonitor(config, store, emit, SystemClock())
    task = asyncio.create_task(monitor.run())
    while not _ready(monitor, args.websocket):  # noqa: ASYNC110 - the monitor exposes no ready event
        await asyncio.sleep(0.05)
    out.put(("ready",))
    await asyncio.to_thread(stop.wait)
    chain = monitor.chains["bench"]
    await monitor.stop()
    await task
    await store.close()
    bad_input = sum(
        sample.value
        for metric in PARSE_ERRORS.collect()
        for sample in metric.samples
        if sample.name.endswith("_total") and sample.labels.get("market") == "evm"
    )
    reasons = "; ".join(
        f"{sample.labels['reason']}={int(sample.value)}"
        for metric in RECONNECTS.collect()
        for sample in metric.samples
        if sample.name.endswith("_total") and sample.labels.get("source") == "evm"
    )
    out.put(("stats", chain.reconnects, int(bad_input), reasons))


def _ready(monitor: WalletMonitor, websocket: bool) -> bool:
    chain = monitor.chains.get("bench")
    return chain is not None and chain.processor.cursor is not None and (chain.ws_ready or not websocket)
