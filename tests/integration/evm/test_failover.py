"""Node killed, node frozen, monitor restarted: nothing missed, nothing twice."""

from __future__ import annotations

import asyncio
import contextlib

from evm_harness import Chain, MonitorFactory, chain, evm_artifacts, evm_config, start_monitor
from pydantic import SecretStr
from tcp_relay import TcpRelay

from conftest import eventually
from cryptoradar.core.metrics import REGISTRY
from cryptoradar.events import ConnectionState, StatusLevel

__all__ = ["chain", "evm_artifacts", "start_monitor"]  # fixtures


async def test_node_killed_and_restarted_falls_back_to_polling_and_back(
    chain: Chain, start_monitor: MonitorFactory
) -> None:
    run = await start_monitor(evm_config(chain))
    await run.ready()
    w1, w2, _ = chain.wallets
    outsider = chain.accounts[4]
    before = await chain.transfer(w1, outsider, 1_000_000)
    await eventually(lambda: len(run.trades) == 1, what="trade before the kill")

    chain.node.kill()
    await eventually(lambda: run.polygon.polling_active, timeout_s=5, what="polling fallback active")
    assert not run.polygon.ws_ready
    await chain.node.start()
    # Sent at once after the restart, while the WebSocket is still in backoff: polling or the
    # backfill must find them.
    gap = [await chain.transfer(w2, outsider, 2_000_000), await chain.transfer(outsider, w1, 3_000_000)]

    await eventually(lambda: run.polygon.ws_ready, timeout_s=15, what="WebSocket back")
    await eventually(lambda: not run.polygon.polling_active, timeout_s=5, what="polling stopped")
    after = await chain.transfer(w1, outsider, 4_000_000)
    await eventually(lambda: len(run.trades) >= 4, timeout_s=10, what="all 4 trades")
    polls = run.polygon.polls
    cursor = run.polygon.processor.cursor or 0
    await eventually(lambda: (run.polygon.processor.cursor or 0) >= cursor + 3, what="3 more blocks")

    keys = run.trade_keys()
    assert len(keys) == len(set(keys)) == 4
    assert {t.tx_hash for t in run.trades} == {before, *gap, after}
    assert run.polygon.polls == polls, "polling must stop once the WebSocket is back"
    assert run.polygon.reconnects >= 1
    states = [s.state for s in run.statuses if s.connection_id == "polygon-ws"]
    assert ConnectionState.RECONNECTING in states
    assert states[-1] is ConnectionState.CONNECTED


def _backfilled() -> float:
    sample = REGISTRY.get_sample_value(
        "cryptoradar_evm_logs_total", {"chain": "polygon", "via": "backfill", "outcome": "emitted"}
    )
    return sample or 0.0


async def test_trades_mined_while_the_socket_was_down_are_filled_in_by_the_backfill(
    chain: Chain, start_monitor: MonitorFactory
) -> None:
    # The WebSocket goes through a relay, so the test decides which blocks it cannot see. Polling every
    # 60 s runs once when the socket drops (node down: it fails) and not again before the socket is back.
    relay = TcpRelay(target_port=chain.node.port)
    await relay.open()
    try:
        run = await start_monitor(
            evm_config(chain, ws_url=SecretStr(relay.ws_url), fallback_polling_interval_s=60.0)
        )
        await run.ready()
        w1, w2, _ = chain.wallets
        outsider = chain.accounts[4]
        before = await chain.transfer(w1, outsider, 1_000_000)
        await eventually(lambda: len(run.trades) == 1, what="trade before the crash")

        await relay.close()  # the node crashes: its socket goes first
        chain.node.kill()
        await eventually(lambda: run.polygon.polling_active, timeout_s=5, what="polling fallback active")
        await chain.node.start()
        polls = run.polygon.polls
        gap = [await chain.transfer(w2, outsider, 2_000_000), await chain.transfer(outsider, w1, 3_000_000)]
        for tx in gap:
            await chain.driver.wait_receipt(tx)
        assert len(run.trades) == 1, "nothing can see the gap yet"
        backfilled = _backfilled()

        await relay.open()
        await eventually(lambda: run.polygon.ws_ready, timeout_s=30, what="WebSocket back")
        await eventually(lambda: len(run.trades) == 3, timeout_s=5, what="gap trades")
        after = await chain.transfer(w1, outsider, 4_000_000)
        await eventually(lambda: len(run.trades) == 4, timeout_s=10, what="live trade after the gap")
    finally:
        await relay.close()

    assert _backfilled() - backfilled == 2, "both gap logs came from the reconnect backfill"
    assert run.polygon.polls == polls, "no poll ran while the gap was open"
    keys = run.trade_keys()
    assert len(keys) == len(set(keys)) == 4
    assert [t.tx_hash for t in run.trades] == [before, *gap, after]


async def test_frozen_node_trips_the_watchdog_and_recovers(
    chain: Chain, start_monitor: MonitorFactory
) -> None:
    # Watchdog: 3 block times of 0.5 s = 1.5 s; keepalive pings are slower here so the watchdog acts first.
    run = await start_monitor(
        evm_config(
            chain,
            watchdog_block_times=3.0,
            ping_interval_s=20.0,
            ping_timeout_s=20.0,
            operator_alert_after_s=2.0,
        )
    )
    await run.ready()
    w1, _, _ = chain.wallets
    outsider = chain.accounts[4]

    loop = asyncio.get_running_loop()
    chain.node.freeze()
    frozen_at = loop.time()
    try:
        await eventually(lambda: not run.polygon.ws_ready, timeout_s=5, what="watchdog trips")
        detected_s = loop.time() - frozen_at
        # Stay frozen past the operator threshold: one OPERATOR status must go out.
        await eventually(
            lambda: any(s.level is StatusLevel.OPERATOR for s in run.statuses),
            timeout_s=5,
            what="operator status",
        )
    finally:
        chain.node.thaw()
    assert detected_s < 3.0, f"watchdog took {detected_s:.2f}s"

    await eventually(lambda: run.polygon.ws_ready, timeout_s=15, what="WebSocket back after SIGCONT")
    tx = await chain.transfer(w1, outsider, 5_000_000)
    await eventually(lambda: len(run.trades) == 1, timeout_s=10, what="trade after recovery")
    assert run.trades[0].tx_hash == tx
    assert sum(1 for s in run.statuses if s.level is StatusLevel.OPERATOR) == 1


async def test_monitor_restart_resumes_from_persisted_block(
    chain: Chain, start_monitor: MonitorFactory
) -> None:
    config = evm_config(chain)
    first = await start_monitor(config)
    await first.ready()
    w1, w2, w3 = chain.wallets
    outsider = chain.accounts[4]
    sent: list[str] = []

    async def keep_sending() -> None:
        senders = (w1, w2, w3)
        for i in range(1000):
            tx = await chain.transfer(senders[i % 3], outsider, 1_000 + i)
            sent.append(tx)
            await chain.driver.wait_receipt(tx)  # see ChainDriver: one transaction in flight per account

    sender = asyncio.create_task(keep_sending())
    try:
        await eventually(lambda: len(first.trades) >= 4, timeout_s=10, what="first monitor sees trades")
        await first.stop()
        stopped_with = len(sent)
        await eventually(lambda: len(sent) >= stopped_with + 4, timeout_s=10, what="trades while stopped")
        second = await start_monitor(config)
        await second.ready()
        await eventually(lambda: len(second.trades) >= 4, timeout_s=10, what="second monitor sees trades")
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender
    await chain.driver.wait_receipt(sent[-1])
    await eventually(
        lambda: len(first.trades) + len(second.trades) >= len(sent), timeout_s=10, what="every sent trade"
    )

    keys = first.trade_keys() + second.trade_keys()
    assert len(keys) == len(set(keys)), "a trade was reported twice across the restart"
    assert {t.tx_hash for t in first.trades + second.trades} == set(sent)


async def test_monitor_started_while_the_node_is_down_waits_for_it(
    chain: Chain, start_monitor: MonitorFactory
) -> None:
    chain.node.kill()
    run = await start_monitor(evm_config(chain))
    await eventually(lambda: "polygon" in run.monitor.chains, what="chain monitor built")
    assert run.polygon.processor.cursor is None
    await chain.node.start()
    await run.ready(timeout_s=15)
    w1, _, _ = chain.wallets
    tx = await chain.transfer(w1, chain.accounts[4], 7_000_000)
    await eventually(lambda: len(run.trades) == 1, what="trade after the late start")
    assert run.trades[0].tx_hash == tx
