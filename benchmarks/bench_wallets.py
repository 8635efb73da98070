"""Wallet monitor on a real local chain: detection latency, missed, duplicates, CPU and RSS per mode.

Run with `python -m benchmarks.bench_wallets [duration_s_per_mode]` or `python -m benchmarks wallets`.
Needs node + npm: ganache and solcjs are installed into .evm/ by scripts/setup-evm-chain.sh on first use.
Writes the JSON report to artifacts/bench_wallets.json as well as printing the table.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from cryptoradar.sources.evm.bench import run_wallet_benchmark
from cryptoradar.storage.evm_sqlite import SqliteWalletStore

DEFAULT_DURATION_S = 40.0


def main(duration_s: float = DEFAULT_DURATION_S) -> None:
    report = run_wallet_benchmark(SqliteWalletStore.open, duration_s=duration_s)
    print(report.to_markdown())
    out = Path("artifacts") / "bench_wallets.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report.to_dict(), indent=2))
    print(f"\nJSON report: {out}")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DURATION_S)
