"""EVM wallet monitor: JSON-RPC WebSocket subscriptions with an `eth_getLogs` polling fallback.

The app builds `WalletMonitor(config.evm, store, emit, clock)` with a `WalletStore` (the SQLite one is
`storage.evm_sqlite.SqliteWalletStore`) and runs `await monitor.run()` until `await monitor.stop()`;
`app.wallets.WalletPath` does that and feeds the alert pipeline.
"""

from cryptoradar.sources.evm.logs import TradeDirection, TradeKind
from cryptoradar.sources.evm.monitor import ChainMonitor, WalletMonitor
from cryptoradar.sources.evm.processor import Emit, WalletStore

__all__ = ["ChainMonitor", "Emit", "TradeDirection", "TradeKind", "WalletMonitor", "WalletStore"]
