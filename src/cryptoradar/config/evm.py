"""Watched EVM wallets: chains, wallets, what to watch and how (WebSocket first, polling fallback).

Defaults follow /work/shared/evm-wallet-monitoring.md: Polymarket CLOB V2 exchanges and the V2
`OrderFilled`/`OrdersMatched` topic0 values (the V1 ones see nothing since 2026-04-28), Polygon tokens.
Addresses are normalised to lowercase; a malformed address fails at load time with the key and value.
"""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from websockets.exceptions import InvalidURI
from websockets.uri import parse_uri

from cryptoradar.config.base import Section

_ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")
_TOPIC_RE = re.compile(r"^0x[0-9a-fA-F]{64}$")


def _address(value: str) -> str:
    if not _ADDRESS_RE.match(value):
        raise ValueError(f"{value!r} is not an EVM address: expected 0x followed by 40 hex digits")
    return value.lower()


def _topic(value: str) -> str:
    if not _TOPIC_RE.match(value):
        raise ValueError(f"{value!r} is not a topic: expected 0x followed by 64 hex digits")
    return value.lower()


Address = Annotated[str, AfterValidator(_address)]
Topic = Annotated[str, AfterValidator(_topic)]

POLYMARKET_CTF_EXCHANGE_V2 = "0xe111180000d2663c0091e4f400237545b87b996b"
POLYMARKET_NEG_RISK_EXCHANGE_V2 = "0xe2222d279d744050d28e00520010520000310f59"
POLYMARKET_ORDER_FILLED_V2 = "0xd543adfd945773f1a62f74f0ee55a5e3b9b1a28262980ba90b1a89f2ea84d8ee"
POLYMARKET_ORDERS_MATCHED_V2 = "0x174b3811690657c217184f89418266767c87e4805d09680c39fc9c031c0cab7c"
POLYGON_CTF = "0x4d97dcd97ec945f40cf65f87097ace5ea0476045"
POLYGON_PUSD = "0xc011a7e12a19f7b1f670d46f03b03f3342e82dfb"
POLYGON_USDC_E = "0x2791bca1f2de4661ed88a30c99a7a9449aa84174"
POLYGON_USDC = "0x3c499c542cef5e3811e1192ce70d8cc03d5c3359"


_HTTP = ("http", "https")


def _has_scheme_and_host(url: str, schemes: tuple[str, ...]) -> bool:
    parts = urlsplit(url)
    return parts.scheme in schemes and bool(parts.hostname)


class ExplorerApiConfig(Section):
    """An Etherscan-v2-style explorer API (`module=account&action=tokentx`) as the last-resort source.

    Polled only while the WebSocket is down and JSON-RPC polling fails (or is not configured). One call
    per wallet per round, within `calls_per_s` (Etherscan free tier: 3/s, summed over the account's keys).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    enabled: bool = True
    base_url: str = "https://api.etherscan.io/v2/api"
    api_key: SecretStr = SecretStr("")
    calls_per_s: float = Field(default=3.0, gt=0)
    poll_interval_s: float = Field(default=30.0, ge=1.0)
    page_size: int = Field(default=1000, ge=1, le=10_000)
    request_timeout_s: float = Field(default=10.0, gt=0)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not _has_scheme_and_host(value, _HTTP):
            raise ValueError(f"{value!r} is not an http(s) URL with a host")
        return value


class ChainConfig(Section):
    """One chain and how to reach it. URLs are secrets: providers put API keys in them."""

    # Validation errors would otherwise echo the raw input, URLs (and their API keys) included.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    name: str = Field(min_length=1)
    chain_id: int = Field(default=137, gt=0)
    ws_url: SecretStr | None = None
    http_url: SecretStr | None = None
    websocket_enabled: bool = True
    block_time_hint_s: float = Field(default=2.0, gt=0)
    """Used for the newHeads watchdog only; the monitor never assumes blocks arrive on time."""
    confirmations: int = Field(default=0, ge=0)
    """Emit a log only once the head is this many blocks past it (0: on first sighting)."""
    use_finalized_tag: bool = False
    """Emit only logs at or below the `finalized` block (Polygon milestones: about 2 to 5 s)."""
    get_logs_chunk_blocks: int = Field(default=1000, ge=1)
    """Largest block range per eth_getLogs; halved automatically when the provider refuses a range."""
    reorg_margin_blocks: int = Field(default=2, ge=0)
    """Backfill re-reads this many blocks below the cursor; the dedup store drops what was seen."""
    reorg_check_depth_blocks: int = Field(default=32, ge=0)
    """Every poll and backfill re-reads the block hash of each reported log up to this many blocks
    below the head; a log whose block was replaced is retracted (a correction goes out) and its range
    re-read. 0 turns the check off. Polygon: 32 (two 16-block sprints, far past milestone finality
    of 2 to 5 s); see docs/decisions.md for the other chains."""
    fallback_polling_interval_s: float = Field(default=15.0, ge=1.0)
    watchdog_block_times: float = Field(default=3.0, gt=0)
    """Reconnect when no newHeads arrived for this many block times."""
    ping_interval_s: float = Field(default=5.0, gt=0)
    ping_timeout_s: float = Field(default=5.0, gt=0)
    open_timeout_s: float = Field(default=5.0, gt=0)
    request_timeout_s: float = Field(default=10.0, gt=0)
    operator_alert_after_s: float = Field(default=60.0, gt=0)
    """An OPERATOR FeedStatus goes out once the WebSocket has been down this long."""
    start_block: int | None = Field(default=None, ge=0)
    """First start only (no persisted cursor): begin after this block; None means the current head."""
    explorer_base_url: str = "https://polygonscan.com"
    explorer_api: ExplorerApiConfig | None = None
    """Off by default; see `ExplorerApiConfig`."""
    native_transfers: bool = False
    """Also report native-coin value transfers from/to watched wallets, read from block bodies (one
    `eth_getBlockByNumber` with full transactions per block). Top-level transactions only."""
    native_symbol: str = "POL"
    native_decimals: int = Field(default=18, ge=0, le=36)
    pending_transactions: bool = False
    """Subscribe to `newPendingTransactions` for wallets with `pending_transactions: true`."""

    @field_validator("ws_url", "http_url")
    @classmethod
    def _url_scheme(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        # The message never repeats the URL: providers put API keys in it.
        allowed = ("ws", "wss") if info.field_name == "ws_url" else _HTTP
        if value is not None:
            url = value.get_secret_value()
            if not _has_scheme_and_host(url, allowed):
                raise ValueError(
                    f"expected a {' or '.join(allowed)} URL with a host (value not shown: it is secret)"
                )
            if info.field_name == "ws_url":
                # Refused here, not at connect time: websockets' InvalidURI repeats the whole URL, and
                # every reconnect would log it (and put it in the feed status).
                try:
                    parse_uri(url)
                except InvalidURI as e:
                    raise ValueError(
                        f"not a usable WebSocket URL: {e.msg} (value not shown: it is secret)"
                    ) from None
        return value

    @model_validator(mode="after")
    def _needs_an_endpoint(self) -> ChainConfig:
        if self.http_url is None and (self.ws_url is None or not self.websocket_enabled):
            raise ValueError(
                f"chain {self.name!r} has no usable endpoint: set evm.chains[].http_url "
                "(polling) or ws_url with websocket_enabled: true"
            )
        return self


class WatchedWallet(Section):
    address: Address
    label: str = ""
    chain: str = "polygon"
    pending_transactions: bool = False
    """The wallet sends its own transactions: alert them while pending (needs the chain's WebSocket and
    `pending_transactions`). Useless for Polymarket traders: the operator sends their fills."""


class TokenInfo(Section):
    """How to show amounts of a token contract (ERC-20, or an ERC-1155 contract's ids)."""

    address: Address
    symbol: str
    decimals: int = Field(ge=0, le=36)


class PolymarketConfig(Section):
    enabled: bool = True
    exchanges: tuple[Address, ...] = (POLYMARKET_CTF_EXCHANGE_V2, POLYMARKET_NEG_RISK_EXCHANGE_V2)
    order_filled_topic: Topic = POLYMARKET_ORDER_FILLED_V2
    orders_matched_topic: Topic = POLYMARKET_ORDERS_MATCHED_V2
    watch_orders_matched: bool = False
    """OrdersMatched repeats the taker's own OrderFilled; off by default so a fill is reported once."""
    share_decimals: int = Field(default=6, ge=0)


class WatchConfig(Section):
    erc20: bool = True
    erc20_tokens: tuple[Address, ...] = (POLYGON_PUSD, POLYGON_USDC_E, POLYGON_USDC)
    """Allow-list of ERC-20 contracts; empty means every contract (spam tokens included)."""
    erc1155: bool = True
    erc1155_contracts: tuple[Address, ...] = (POLYGON_CTF,)
    """Allow-list of ERC-1155 contracts; empty means every contract."""
    polymarket: PolymarketConfig = PolymarketConfig()
    tokens: tuple[TokenInfo, ...] = (
        TokenInfo(address=POLYGON_PUSD, symbol="pUSD", decimals=6),
        TokenInfo(address=POLYGON_USDC_E, symbol="USDC.e", decimals=6),
        TokenInfo(address=POLYGON_USDC, symbol="USDC", decimals=6),
        TokenInfo(address=POLYGON_CTF, symbol="CTF", decimals=6),
    )
    unknown_token_decimals: int = Field(default=18, ge=0, le=36)


class ExecutorWebhookConfig(Section):
    """Every WalletTrade (retractions included) POSTed as JSON for downstream executors, HMAC-signed the
    way the alert webhook channel is (Standard Webhooks headers). Off unless configured."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    enabled: bool = True
    url: SecretStr
    secret: SecretStr
    timeout_s: float = Field(default=5.0, gt=0)
    queue_size: int = Field(default=10_000, ge=1)
    """Trades waiting for the executor; when full the oldest is dropped and counted (alerts are not)."""
    max_attempts: int = Field(default=5, ge=1)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: SecretStr) -> SecretStr:
        if not _has_scheme_and_host(value.get_secret_value(), _HTTP):
            raise ValueError("expected an http(s) URL with a host (value not shown: it is secret)")
        return value


class EvmConfig(Section):
    # Nested errors follow the outermost model's setting: hide inputs here too (chain URLs are secret).
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    enabled: bool = False
    chains: tuple[ChainConfig, ...] = ()
    wallets: tuple[WatchedWallet, ...] = ()
    watch: WatchConfig = WatchConfig()
    wallets_per_filter: int = Field(default=100, ge=1)
    """Wallets OR-ed into one topic filter; more wallets make more filters."""
    dedup_retention_blocks: int = Field(default=50_000, ge=100)
    executor_webhook: ExecutorWebhookConfig | None = None

    @model_validator(mode="after")
    def _wallets_on_known_chains(self) -> EvmConfig:
        names = {c.name for c in self.chains}
        if len(names) != len(self.chains):
            raise ValueError("evm.chains: chain names must be unique")
        for wallet in self.wallets:
            if wallet.chain not in names:
                raise ValueError(
                    f"evm.wallets: wallet {wallet.address} is on chain {wallet.chain!r}, "
                    f"which is not in evm.chains (known: {sorted(names)})"
                )
        return self
