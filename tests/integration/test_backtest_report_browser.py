"""The backtest report in a real headless Chromium: renders offline, no script errors, charts present.

Uses the CDP helper of the dashboard browser test. Leaves a screenshot in artifacts/backtest-report.png.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from test_api_browser import ARTIFACTS, browser_page, chromium  # noqa: F401 - chromium is a fixture

from conftest import eventually, shared_data
from cryptoradar.backtest.inputs import ArchiveInput, CandleJsonInput
from cryptoradar.backtest.report import write_report
from cryptoradar.backtest.runner import BacktestOptions, run_backtest
from cryptoradar.config.detectors import ConfluenceConfig, DetectorsConfig, MomentumConfig


@pytest.mark.slow
async def test_report_renders_in_chromium(chromium: str, tmp_path: Path) -> None:  # noqa: F811
    data = shared_data()
    detectors = DetectorsConfig(
        confluence=ConfluenceConfig(symbols=("XRPETH", "ADABTC"), intervals=("1m", "5m")),
        momentum=MomentumConfig(
            timeframe="5m", trend_timeframes=("5m",), min_move_pct=1.0, min_quote_volume=0.0
        ),
    )
    result = run_backtest(
        [
            CandleJsonInput(data / "candles" / "XRP_ETH-1m.json"),
            CandleJsonInput(data / "candles" / "XRP_ETH-5m.json"),
            ArchiveInput(data / "archive" / "ADABTC-1m-2021-11-27.csv"),
        ],
        BacktestOptions(detectors=detectors),
    )
    files = write_report(result, tmp_path / "report")
    async with browser_page(chromium, files.html.as_uri(), tmp_path / "profile") as tools:

        async def loaded() -> bool:
            return await tools.evaluate("document.readyState === 'complete'") is True

        await eventually(loaded, timeout_s=20, what="the report to load")
        count = await tools.evaluate("document.querySelector('#signal-count').textContent")
        assert count == str(len(result.signals))
        charts = await tools.evaluate("document.querySelectorAll('svg').length")
        markers = await tools.evaluate("document.querySelectorAll('svg polygon').length")
        # Every resource the page fetched (none expected besides the page itself): offline by construction.
        fetched = await tools.evaluate("performance.getEntriesByType('resource').length")
        width = await tools.evaluate("document.querySelector('svg').getBoundingClientRect().width")
        shot = await tools.send("Page.captureScreenshot", {"format": "png"})
        assert tools.exceptions == []
    assert isinstance(charts, int)
    assert charts >= 2 + 3 * len(result.horizons)  # price charts + return/MFE/MAE per horizon and detector
    assert markers == sum(1 for o in result.outcomes if o.entry == o.entry)
    assert fetched == 0
    assert isinstance(width, int | float)
    assert width > 100
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "backtest-report.png").write_bytes(base64.b64decode(str(shot["data"])))
