"""`cryptoradar bench wallets`: the wallet monitor against a real local chain, per mode.

For each mode (WebSocket with 1 s polling fallback, then polling only at each interval) a fresh monitor
runs in a child process (so its CPU and RSS are its own) while this process sends ERC-20 transfers
from, to and between >= 3 watched wallets at random times, and kills and restarts the node half-way.
An independent newHeads listener here stamps when each block appeared; every detection is stamped in
the child with the same wall clock. Transactions lost with the node's mempool at the kill are not
counted as sent (they never reached a block).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import os
import queue
import random
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue as MpQueue
from pathlib import Path

import aiohttp
import websockets

from cryptoradar.sources.evm.bench_report import ModeResult, Percentiles, WalletBenchReport
from cryptoradar.sources.evm.devchain import (
    DEFAULT_TOOLS_DIR,
    ChainDriver,
    DevChainError,
    GanacheNode,
    compile_contracts,
    ensure_tools,
    free_port,
)
from cryptoradar.sources.evm.worker import StoreFactory, WorkerArgs, run_worker

_CLK_TCK = os.sysconf("SC_CLK_TCK")


def run_wallet_benchmark(
    open_store: StoreFactory,
    duration_s: float = 40.0,
    block_time_s: float = 1.0,
    poll_intervals_s: Sequence[float] = (1.0, 2.0, 5.0, 15.0),
    outage_s: float = 3.0,
    tools_dir: Path = DEFAULT_TOOLS_DIR,
    seed: int = 7,
) -> WalletBenchReport:
    """Run every mode for `duration_s` each and return the report. Blocking: call it outside a loop.

    `open_store` opens the monitor's store in the child process (pass `SqliteWalletStore.open`; sources
    may not import storage). Needs node + npm (ganache and solcjs are installed into `tools_dir` on
    first use).
    """
    return asyncio.run(
        _benchmark(open_store, duration_s, block_time_s, poll_intervals_s, outage_s, tools_dir, seed)
    )


@dataclass
class _Sent:
    tx_hash: str
    wallets: tuple[str, ...]
    send_ns: int
    block: int | None = None


@dataclass
class _Run:
    node: GanacheNode
    driver: ChainDriver
    token: str
    watched: list[str]
    outsiders: list[str]
    open_store: StoreFactory
    block_seen_ns: dict[int, int] = field(default_factory=dict)
    send_errors: int = 0
    refused: int = 0


async def _benchmark(
    open_store: StoreFactory,
    duration_s: float,
    block_time_s: float,
    poll_intervals_s: Sequence[float],
    outage_s: float,
    tools_dir: Path,
    seed: int,
) -> WalletBenchReport:
    artifacts = compile_contracts(ensure_tools(tools_dir))
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="bench-wallets-") as tmp:
        node = GanacheNode(
            port=free_port(),
            db_path=Path(tmp) / "chaindb",
            tools_dir=tools_dir,
            block_time_s=block_time_s,
            accounts=8,
        )
        await node.start()
        try:
            async with aiohttp.ClientSession() as session:
                driver = ChainDriver(session, node.http_url, artifacts)
                accounts = await driver.accounts()
                token = await driver.deploy("TestToken", accounts[0])
                await driver.wait_receipt(
                    await driver.call(
                        "TestToken", token, accounts[0], "mintMany(address[],uint256)", accounts[1:], 10**15
                    )
                )
                run = _Run(node, driver, token, accounts[1:4], accounts[4:7], open_store)
                observer = asyncio.create_task(_observe_heads(run))
                try:
                    modes: list[tuple[str, bool, float]] = [("ws", True, 1.0)]
                    modes += [(f"poll-{i:g}s", False, i) for i in poll_intervals_s]
                    results = [
                        await _run_mode(run, name, ws, interval, duration_s, outage_s, Path(tmp), rng)
                        for name, ws, interval in modes
                    ]
                finally:
                    observer.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await observer
        finally:
            node.kill()
    return WalletBenchReport(block_time_s=block_time_s, wallets=3, modes=results)


async def _observe_heads(run: _Run) -> None:
    """Stamp the first time each block number is announced; reconnect across node restarts."""
    while True:
        try:
            async with websockets.connect(run.node.ws_url, open_timeout=1) as ws:
                await ws.send(
                    json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["newHeads"]})
                )
                async for message in ws:
                    now_ns = time.time_ns()
                    frame = json.loads(message)
                    if frame.get("method") == "eth_subscription":
                        run.block_seen_ns.setdefault(int(frame["params"]["result"]["number"], 16), now_ns)
        except (OSError, websockets.exceptions.WebSocketException, TimeoutError):
            await asyncio.sleep(0.05)


async def _run_mode(
    run: _Run,
    name: str,
    websocket: bool,
    interval_s: float,
    duration_s: float,
    outage_s: float,
    tmp: Path,
    rng: random.Random,
) -> ModeResult:
    ctx = multiprocessing.get_context("spawn")
    out: MpQueue[tuple[object, ...]] = ctx.Queue()
    stop = ctx.Event()
    args = WorkerArgs(
        ws_url=run.node.ws_url,
        http_url=run.node.http_url,
        websocket=websocket,
        polling_interval_s=interval_s,
        block_time_s=run.node.block_time_s,
        wallets=tuple(run.watched),
        token=run.token,
        db_path=str(tmp / f"{name}.db"),
        open_store=run.open_store,
    )
    child = ctx.Process(target=run_worker, args=(args, out, stop), name=f"bench-wallets-{name}", daemon=True)
    child.start()
    await _expect(out, "ready", timeout_s=30)
    cpu_start_s = _cpu_s(child)
    started = time.monotonic()
    run.send_errors = run.refused = 0
    sent: list[_Sent] = []
    senders = [asyncio.create_task(_send_loop(run, i, sent, rng)) for i in range(len(run.watched))]
    await asyncio.sleep(duration_s / 2)
    killed_ns = time.time_ns()
    run.node.kill()
    await asyncio.sleep(outage_s)
    await run.node.start()
    await asyncio.sleep(duration_s / 2)
    for task in senders:
        task.cancel()
    await asyncio.gather(*senders, return_exceptions=True)
    mined = await _mined(run, sent)
    expected = {(s.tx_hash, w) for s in mined for w in s.wallets}
    detections = await _collect(out, expected, settle_s=interval_s * 2 + 5)
    elapsed_s = time.monotonic() - started
    cpu_s = _cpu_s(child) - cpu_start_s
    rss_mb, peak_mb = _rss_mb(child)
    stop.set()
    stats = await _expect(out, "stats", timeout_s=20)
    child.join(timeout=10)
    return _result(
        name,
        elapsed_s,
        run,
        mined,
        expected,
        detections,
        stats,
        cpu_s,
        rss_mb,
        peak_mb,
        killed_ns,
        interval_s,
    )


async def _send_loop(run: _Run, index: int, sent: list[_Sent], rng: random.Random) -> None:
    """Random gaps of 0.3..1.5 s: out to this loop's outsider, in from it, or to another watched wallet.

    Each loop owns its wallet and its outsider and waits for a transaction to be mined before the
    next from the same account (ganache drops transactions otherwise, see `ChainDriver`).
    """
    wallet, outsider = run.watched[index], run.outsiders[index]
    while True:
        await asyncio.sleep(rng.uniform(0.3, 1.5))
        roll = rng.random()
        wallets: tuple[str, ...]
        if roll < 0.45:
            sender, to, wallets = wallet, outsider, (wallet,)
        elif roll < 0.85:
            sender, to, wallets = outsider, wallet, (wallet,)
        else:
            peer = rng.choice([w for w in run.watched if w != wallet])
            sender, to, wallets = wallet, peer, (wallet, peer)
        send_ns = time.time_ns()
        try:
            tx = await run.driver.call(
                "TestToken", run.token, sender, "transfer(address,uint256)", to, rng.randint(1, 10**6)
            )
        except (aiohttp.ClientConnectionError, TimeoutError):
            run.refused += 1  # the node is down: nothing was sent
            continue
        except DevChainError:
            run.send_errors += 1
            continue
        sent.append(_Sent(tx, wallets, send_ns))
        # Lost with the mempool if the node is killed now: `_mined` leaves it out of "sent".
        with contextlib.suppress(DevChainError, aiohttp.ClientError, TimeoutError):
            await run.driver.wait_receipt(tx, timeout_s=10)


async def _mined(run: _Run, sent: list[_Sent]) -> list[_Sent]:
    async def block_of(s: _Sent) -> _Sent | None:
        try:
            receipt = await run.driver.wait_receipt(s.tx_hash, timeout_s=15)
        except (DevChainError, aiohttp.ClientError):
            return None
        s.block = int(str(receipt["blockNumber"]), 16)
        return s

    return [s for s in await asyncio.gather(*(block_of(s) for s in sent)) if s is not None]


async def _collect(
    out: MpQueue[tuple[object, ...]], expected: set[tuple[str, str]], settle_s: float
) -> list[tuple[str, str, bool, int]]:
    """Drain detections until every expected one arrived (then `settle_s` more for duplicates)."""
    detections: list[tuple[str, str, bool, int]] = []
    deadline = time.monotonic() + settle_s + 30
    all_seen_at: float | None = None
    while time.monotonic() < deadline and (all_seen_at is None or time.monotonic() < all_seen_at + settle_s):
        try:
            item = await asyncio.to_thread(out.get, True, 0.2)
        except queue.Empty:
            item = None
        if item is not None and item[0] == "trade":
            _, tx, wallet, removed, ns = item
            detections.append((str(tx), str(wallet), bool(removed), int(str(ns))))
        if all_seen_at is None and expected <= {(d[0], d[1]) for d in detections}:
            all_seen_at = time.monotonic()
    return detections


async def _expect(out: MpQueue[tuple[object, ...]], kind: str, timeout_s: float) -> tuple[object, ...]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            item: tuple[object, ...] = await asyncio.to_thread(out.get, True, 0.5)
        except queue.Empty:
            continue
        if item[0] == kind:
            return item
    raise DevChainError(f"benchmark worker sent no {kind!r} within {timeout_s}s")


def _result(
    name: str,
    elapsed_s: float,
    run: _Run,
    mined: list[_Sent],
    expected: set[tuple[str, str]],
    detections: list[tuple[str, str, bool, int]],
    stats: tuple[object, ...],
    cpu_s: float,
    rss_mb: float,
    peak_mb: float,
    killed_ns: int,
    interval_s: float,
) -> ModeResult:
    by_tx = {s.tx_hash: s for s in mined}
    counts = Counter((tx, w) for tx, w, removed, _ in detections if not removed)
    first_ns: dict[tuple[str, str], int] = {}
    for tx, w, removed, ns in detections:
        if not removed:
            first_ns.setdefault((tx, w), ns)
    from_send: list[float] = []
    from_mined: list[float] = []
    steady: list[float] = []
    # Blocks seen this close to the kill may be fetched only after the outage: not steady state.
    steady_until_ns = killed_ns - int((interval_s + run.node.block_time_s + 1) * 1e9)
    for key, ns in first_ns.items():
        s = by_tx.get(key[0])
        if s is None:
            continue
        from_send.append((ns - s.send_ns) / 1e6)
        seen_ns = run.block_seen_ns.get(s.block) if s.block is not None else None
        if seen_ns is not None:
            from_mined.append((ns - seen_ns) / 1e6)
            if seen_ns < steady_until_ns:
                steady.append((ns - seen_ns) / 1e6)
    _, reconnects, bad_input, reasons = stats
    return ModeResult(
        mode=name,
        duration_s=elapsed_s,
        trades_sent=len(expected),
        trades_detected=len(expected & set(first_ns)),
        duplicates=sum(c - 1 for c in counts.values()),
        errors=run.send_errors + int(str(bad_input)),
        reconnects=int(str(reconnects)),
        reconnect_reasons=str(reasons),
        from_mined=Percentiles.of(from_mined),
        steady_from_mined=Percentiles.of(steady),
        from_send=Percentiles.of(from_send),
        cpu_s=cpu_s,
        rss_mb=rss_mb,
        peak_rss_mb=peak_mb,
        node_restarts=1,
        missing=sorted({tx for tx, _ in expected - set(first_ns)}),
    )


def _cpu_s(process: BaseProcess) -> float:
    """utime + stime of a child from /proc (Linux)."""
    with contextlib.suppress(OSError, ValueError):
        fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _CLK_TCK
    return float("nan")


def _rss_mb(process: BaseProcess) -> tuple[float, float]:
    """(current RSS, peak RSS) of a child in MB from /proc (Linux)."""
    values: dict[str, float] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) / 1024
    return values.get("VmRSS", float("nan")), values.get("VmHWM", float("nan"))


__all__ = ["WalletBenchReport", "run_wallet_benchmark"]
