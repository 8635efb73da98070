"""JSON-RPC transports: one WebSocket connection (calls + subscriptions) and plain HTTP (polling).

We talk JSON-RPC over `websockets` directly rather than through web3.py's WebSocketProvider: its
subscription manager keeps stale subscriptions across reconnects (fact sheet §4.3), and we need
exactly three things: calls, subscriptions, and control over keepalive and reconnect.

Error messages never include endpoint URLs: providers put API keys in them.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from typing import Protocol

import aiohttp
import msgspec
from pydantic import SecretStr
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from cryptoradar.core.clock import Clock
from cryptoradar.core.errors import RetryableError
from cryptoradar.sources.evm.logs import LogFilter, RpcLog

NotificationHandler = Callable[[msgspec.Raw, int], Awaitable[None]]
"""Called with a subscription's `result` payload and the receive time in ns."""

_MAX_ORPHANS = 1000


class RpcError(Exception):
    """The node answered with a JSON-RPC error object."""

    def __init__(self, method: str, code: int, message: str) -> None:
        super().__init__(f"{method}: error {code}: {message[:200]}")
        self.code = code
        self.message = message

    @property
    def is_range_error(self) -> bool:
        """The provider refused the block range or the result size (§2.3: shrink and retry)."""
        text = self.message.lower()
        return self.code == -32005 or any(k in text for k in ("range", "too many", "limit", "exceed"))


class RpcUnavailable(RetryableError):
    """The endpoint could not be reached or did not answer in time."""


class Rpc(Protocol):
    async def call(self, method: str, params: list[object]) -> msgspec.Raw: ...


class _ErrorBody(msgspec.Struct, frozen=True):
    code: int
    message: str = ""


class _SubscriptionParams(msgspec.Struct, frozen=True):
    subscription: str
    result: msgspec.Raw


class _Frame(msgspec.Struct, frozen=True):
    """Either a response (`id` set) or a notification (`method` == "eth_subscription")."""

    id: int | None = None
    result: msgspec.Raw = msgspec.Raw(b"null")
    error: _ErrorBody | None = None
    method: str | None = None
    params: _SubscriptionParams | None = None


_FRAME_DECODER = msgspec.json.Decoder(_Frame)
_ENCODER = msgspec.json.Encoder()
_LOGS_DECODER = msgspec.json.Decoder(list[RpcLog])
_STR_DECODER = msgspec.json.Decoder(str)


class BadFrame(ValueError):
    """A frame that is not valid JSON-RPC; counted and dropped by the caller."""


class WsRpc:
    """Calls and subscriptions multiplexed over one open WebSocket.

    `read_forever()` must run as a task; notification handlers run inline in it (keep them fast: the
    next frame waits). Handlers must never await a call on this connection, which would deadlock.
    Notifications that arrive before their subscription's reply was handled are buffered and replayed.
    """

    def __init__(
        self,
        ws: ClientConnection,
        clock: Clock,
        request_timeout_s: float,
        on_bad_frame: Callable[[BadFrame], None],
    ) -> None:
        self._ws = ws
        self._clock = clock
        self._timeout_s = request_timeout_s
        self._on_bad_frame = on_bad_frame
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[msgspec.Raw]] = {}
        self._handlers: dict[str, NotificationHandler] = {}
        self._orphans: dict[str, list[tuple[msgspec.Raw, int]]] = {}

    async def call(self, method: str, params: list[object]) -> msgspec.Raw:
        request_id = next(self._ids)
        future: asyncio.Future[msgspec.Raw] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            await self._ws.send(
                _ENCODER.encode(
                    {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
                ).decode()
            )
            async with asyncio.timeout(self._timeout_s):
                return await future
        except RpcError as e:
            raise RpcError(method, e.code, e.message) from None
        except TimeoutError:
            raise RpcUnavailable(f"{method}: no answer within {self._timeout_s}s") from None
        except ConnectionClosed as e:
            raise RpcUnavailable(
                f"{method}: connection closed ({e.rcvd.code if e.rcvd else 'no close frame'})"
            ) from e
        finally:
            self._pending.pop(request_id, None)

    async def subscribe(self, params: list[object], handler: NotificationHandler) -> str:
        """eth_subscribe; `handler` gets every notification of the new subscription."""
        sub_id = _STR_DECODER.decode(await self.call("eth_subscribe", params))
        self._handlers[sub_id] = handler
        for payload, recv_ns in self._orphans.pop(sub_id, []):
            await handler(payload, recv_ns)
        return sub_id

    async def read_forever(self) -> None:
        """Dispatch frames until the socket closes; then fail every pending call and re-raise."""
        try:
            async for message in self._ws:
                recv_ns = self._clock.now_ns()
                try:
                    frame = _FRAME_DECODER.decode(message)
                except (msgspec.DecodeError, msgspec.ValidationError) as e:
                    self._on_bad_frame(BadFrame(f"undecodable frame: {e}"))
                    continue
                await self._dispatch(frame, recv_ns)
        except ConnectionClosed as e:
            self._fail_pending(e)
            raise
        self._fail_pending(ConnectionError("connection closed"))
        raise ConnectionError("connection closed by the server")

    async def _dispatch(self, frame: _Frame, recv_ns: int) -> None:
        if frame.id is not None:
            future = self._pending.get(frame.id)
            if future is None or future.done():
                return
            if frame.error is not None:
                future.set_exception(RpcError("request", frame.error.code, frame.error.message))
            else:
                future.set_result(frame.result)
            return
        if frame.method != "eth_subscription" or frame.params is None:
            self._on_bad_frame(BadFrame(f"unexpected frame method {frame.method!r}"))
            return
        handler = self._handlers.get(frame.params.subscription)
        if handler is None:
            orphans = self._orphans.setdefault(frame.params.subscription, [])
            if len(orphans) < _MAX_ORPHANS:
                orphans.append((frame.params.result, recv_ns))
            return
        await handler(frame.params.result, recv_ns)

    def _fail_pending(self, error: BaseException) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(RpcUnavailable(f"connection lost: {type(error).__name__}"))
        self._pending.clear()


class HttpRpc:
    """JSON-RPC over HTTP POST with aiohttp. One session per monitor, closed by the owner."""

    def __init__(self, session: aiohttp.ClientSession, url: SecretStr, request_timeout_s: float) -> None:
        self._session = session
        self._url = url
        self._timeout = aiohttp.ClientTimeout(total=request_timeout_s)
        self._ids = itertools.count(1)

    async def call(self, method: str, params: list[object]) -> msgspec.Raw:
        body = _ENCODER.encode({"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params})
        try:
            async with self._session.post(
                self._url.get_secret_value(),
                data=body,
                headers={"Content-Type": "application/json"},
                timeout=self._timeout,
            ) as resp:
                if resp.status == 429 or resp.status >= 500:
                    raise RpcUnavailable(f"{method}: HTTP {resp.status}", _retry_after_s(resp))
                payload = await resp.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as e:
            raise RpcUnavailable(f"{method}: {type(e).__name__}") from None
        try:
            frame = _FRAME_DECODER.decode(payload)
        except (msgspec.DecodeError, msgspec.ValidationError) as e:
            raise RpcUnavailable(f"{method}: undecodable response ({e})") from None
        if frame.error is not None:
            raise RpcError(method, frame.error.code, frame.error.message)
        return frame.result


def _retry_after_s(resp: aiohttp.ClientResponse) -> float | None:
    value = resp.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def decode_logs(raw: msgspec.Raw) -> list[RpcLog]:
    return _LOGS_DECODER.decode(raw)


class LogFetcher:
    """eth_getLogs over a block range in chunks; halves the chunk when the provider refuses a range.

    The shrunk size is kept for later calls (providers' limits do not change between calls).
    """

    def __init__(self, chunk_blocks: int) -> None:
        self.chunk_blocks = chunk_blocks

    async def fetch(self, rpc: Rpc, flt: LogFilter, from_block: int, to_block: int) -> list[RpcLog]:
        logs: list[RpcLog] = []
        start = from_block
        while start <= to_block:
            end = min(start + self.chunk_blocks - 1, to_block)
            params = flt.to_params() | {"fromBlock": hex(start), "toBlock": hex(end)}
            try:
                raw = await rpc.call("eth_getLogs", [params])
            except RpcError as e:
                if e.is_range_error and self.chunk_blocks > 1:
                    self.chunk_blocks = max(1, self.chunk_blocks // 2)
                    continue
                raise
            try:
                logs.extend(decode_logs(raw))
            except (msgspec.DecodeError, msgspec.ValidationError) as e:
                raise RpcUnavailable(f"eth_getLogs: undecodable result ({e})") from None
            start = end + 1
        return logs


async def block_number(rpc: Rpc, tag: str = "latest") -> int:
    """The number of the `latest` (or `finalized`, `safe`) block."""
    if tag == "latest":
        return int(_STR_DECODER.decode(await rpc.call("eth_blockNumber", [])), 16)
    block = msgspec.json.decode(await rpc.call("eth_getBlockByNumber", [tag, False]), type=_BlockNumber)
    return int(block.number, 16)


async def block_hash(rpc: Rpc, number: int) -> str | None:
    """The hash of the chain's block `number` now; None when the node has no such block (any more)."""
    raw = await rpc.call("eth_getBlockByNumber", [hex(number), False])
    try:
        block = msgspec.json.decode(raw, type=_BlockHash | None)
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        raise RpcUnavailable(f"eth_getBlockByNumber: undecodable block ({e})") from None
    return None if block is None else block.hash.lower()


class _BlockNumber(msgspec.Struct, frozen=True):
    number: str


class _BlockHash(msgspec.Struct, frozen=True):
    hash: str
