"""The composition root runs the wallet path: a chain transfer becomes an alert of the running Radar."""

from __future__ import annotations

from pathlib import Path

from evm_harness import Chain, chain, evm_artifacts, evm_config
from wallet_path_harness import StubSink, settings_for

from conftest import eventually
from cryptoradar.app import Radar
from cryptoradar.app import settings_for as pointed_at
from cryptoradar.config.alerts import ChannelConfig
from cryptoradar.config.api import ApiConfig
from cryptoradar.notifications import Sink
from cryptoradar.sim import SimOptions, Simulator

__all__ = ["chain", "evm_artifacts"]  # fixtures


async def test_radar_alerts_a_watched_wallet_trade_once(chain: Chain, tmp_path: Path) -> None:
    sinks: dict[str, StubSink] = {}

    def stub_sink(name: str, _: ChannelConfig) -> Sink:
        return sinks.setdefault(name, StubSink(name))

    settings = settings_for(evm_config(chain), tmp_path / "cryptoradar.db")
    settings = settings.model_copy(update={"api": ApiConfig(enabled=False)})
    options = SimOptions(seed=3, symbols=8, futures_symbols=2, acceleration=60.0, history_bars=60)
    async with Simulator(options) as sim:
        radar = Radar(pointed_at(sim, settings, tmp_path), clock=sim.clock, sink_factory=stub_sink)
        await radar.start()
        try:

            def watching() -> bool:
                chains = radar.wallets.state().chains
                return bool(chains) and all(c.ws_ready and c.cursor is not None for c in chains)

            await eventually(watching, timeout_s=15, what="the radar's wallet path is watching")
            w0 = chain.wallets[0]
            tx = await chain.transfer(w0, chain.accounts[4], 2_000_000)
            await eventually(lambda: len(sinks["trader"].alerts) >= 1, timeout_s=10, what="wallet alert")
            await chain.driver.wait_receipt(tx)
            cursor = radar.wallets.state().chains[0].cursor or 0
            await eventually(
                lambda: (radar.wallets.state().chains[0].cursor or 0) >= cursor + 2, what="2 more blocks"
            )
        finally:
            await radar.stop(timeout_s=10)

    wallet_alerts = [a for a in sinks["trader"].alerts if tx in a.body]
    assert len(wallet_alerts) == 1
    assert "w0" in wallet_alerts[0].title
    assert radar.wallets.state().alerts == 1
