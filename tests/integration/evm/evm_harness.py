"""A real ganache chain per test, the test contracts deployed, and a monitor harness around it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from pydantic import SecretStr

from conftest import eventually
from cryptoradar.config.evm import (
    ChainConfig,
    EvmConfig,
    PolymarketConfig,
    TokenInfo,
    WatchConfig,
    WatchedWallet,
)
from cryptoradar.core.clock import SystemClock
from cryptoradar.events import Event, FeedStatus, WalletTrade
from cryptoradar.sources.evm.devchain import (
    Artifact,
    ChainDriver,
    GanacheNode,
    compile_contracts,
    ensure_tools,
    free_port,
)
from cryptoradar.sources.evm.monitor import ChainMonitor, WalletMonitor
from cryptoradar.storage.evm_sqlite import SqliteWalletStore

BLOCK_TIME_S = 0.5


@pytest.fixture(scope="session")
def evm_artifacts() -> dict[str, Artifact]:
    """Installs ganache + solcjs via scripts/setup-evm-chain.sh if missing, compiles contracts/ (cached)."""
    return compile_contracts(ensure_tools())


@dataclass
class Chain:
    node: GanacheNode
    driver: ChainDriver
    accounts: list[str]
    token: str
    multi: str
    exchange: str

    @property
    def wallets(self) -> list[str]:
        """The watched wallets: accounts 1..3. Account 0 deploys and funds; 4 and 5 are outsiders."""
        return self.accounts[1:4]

    async def transfer(self, sender: str, to: str, amount: int) -> str:
        return await self.driver.call(
            "TestToken", self.token, sender, "transfer(address,uint256)", to, amount
        )


@pytest.fixture
async def chain(evm_artifacts: dict[str, Artifact], tmp_path: Path) -> AsyncIterator[Chain]:
    node = GanacheNode(port=free_port(), db_path=tmp_path / "chaindb", block_time_s=BLOCK_TIME_S)
    await node.start()
    try:
        async with aiohttp.ClientSession() as session:
            driver = ChainDriver(session, node.http_url, evm_artifacts)
            accounts = await driver.accounts()
            deployer = accounts[0]
            # One transaction in flight per account (see ChainDriver): deploy one after the other.
            token = await driver.deploy("TestToken", deployer)
            multi = await driver.deploy("TestMultiToken", deployer)
            exchange = await driver.deploy("TestExchange", deployer)
            c = Chain(node, driver, accounts, token, multi, exchange)
            await driver.wait_receipt(
                await driver.call(
                    "TestToken", token, deployer, "mintMany(address[],uint256)", accounts[1:], 10**12
                )
            )
            yield c
    finally:
        node.kill()


def evm_config(chain: Chain, **chain_overrides: object) -> EvmConfig:
    chain_fields: dict[str, object] = {
        "name": "polygon",
        "chain_id": 137,
        "ws_url": SecretStr(chain.node.ws_url),
        "http_url": SecretStr(chain.node.http_url),
        "block_time_hint_s": BLOCK_TIME_S,
        # 3 s without a head: generous, so a loaded 2-core CI machine does not trip it spuriously.
        "watchdog_block_times": 6.0,
        "fallback_polling_interval_s": 1.0,
        "operator_alert_after_s": 2.0,
        "open_timeout_s": 1.0,
        "request_timeout_s": 2.0,
        "ping_interval_s": 1.0,
        "ping_timeout_s": 1.0,
        "explorer_base_url": "https://polygonscan.com",
    }
    chain_fields.update(chain_overrides)
    return EvmConfig(
        enabled=True,
        chains=(ChainConfig.model_validate(chain_fields),),
        wallets=tuple(
            WatchedWallet(address=w, label=f"w{i}", chain="polygon") for i, w in enumerate(chain.wallets)
        ),
        watch=WatchConfig(
            erc20_tokens=(chain.token,),
            erc1155_contracts=(chain.multi,),
            polymarket=PolymarketConfig(exchanges=(chain.exchange,), watch_orders_matched=True),
            tokens=(
                TokenInfo(address=chain.token, symbol="TST", decimals=6),
                TokenInfo(address=chain.multi, symbol="MT", decimals=0),
            ),
        ),
    )


@dataclass
class MonitorRun:
    """A running monitor and everything it emitted."""

    monitor: WalletMonitor
    task: asyncio.Task[None]
    events: list[Event] = field(default_factory=list)

    @property
    def trades(self) -> list[WalletTrade]:
        return [e for e in self.events if isinstance(e, WalletTrade)]

    @property
    def statuses(self) -> list[FeedStatus]:
        return [e for e in self.events if isinstance(e, FeedStatus)]

    def trade_keys(self, removed: bool = False) -> list[tuple[str, int, str]]:
        return [(t.tx_hash, t.log_index, t.wallet) for t in self.trades if t.removed is removed]

    @property
    def polygon(self) -> ChainMonitor:
        return self.monitor.chains["polygon"]

    async def ready(self, ws: bool = True, timeout_s: float = 10.0) -> None:
        """Started, cursor known, and (with `ws`) the WebSocket subscribed and backfilled."""

        def ok() -> bool:
            chain = self.monitor.chains.get("polygon")
            return chain is not None and chain.processor.cursor is not None and (not ws or chain.ws_ready)

        await eventually(ok, timeout_s=timeout_s, what="monitor ready")

    async def stop(self) -> None:
        await self.monitor.stop()
        await asyncio.wait_for(self.task, timeout=10)


MonitorFactory = Callable[[EvmConfig], Awaitable[MonitorRun]]


@pytest.fixture
async def start_monitor(tmp_path: Path) -> AsyncIterator[MonitorFactory]:
    """start_monitor(config) -> running monitor over the test's SQLite file (shared across restarts)."""
    runs: list[MonitorRun] = []
    stores: list[SqliteWalletStore] = []

    async def start(config: EvmConfig) -> MonitorRun:
        store = await SqliteWalletStore.open(tmp_path / "cryptoradar.db")
        stores.append(store)
        events: list[Event] = []

        async def emit(event: Event) -> None:
            events.append(event)

        monitor = WalletMonitor(config, store, emit, SystemClock())
        run = MonitorRun(monitor, asyncio.create_task(monitor.run()), events)
        runs.append(run)
        return run

    yield start
    for run in runs:
        if not run.task.done():
            await run.stop()
    for store in stores:
        await store.close()
