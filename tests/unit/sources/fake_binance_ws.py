"""A tiny Binance-shaped combined-stream server on 127.0.0.1 for pool unit tests.

It ACKs SUBSCRIBE/UNSUBSCRIBE, records every control message with its arrival time per connection, pushes
one in-progress kline frame per subscribed kline stream every `push_every_s`, and can silence a stream or
send `serverShutdown`. Not a simulator: just enough protocol to test the pool against a real socket.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field

from websockets.asyncio.server import Server, ServerConnection, serve


@dataclass
class ServerConn:
    path: str
    ws: ServerConnection
    streams: set[str] = field(default_factory=set)
    control_times_s: list[float] = field(default_factory=list)
    opened_s: float = field(default_factory=time.monotonic)
    subscribed_s: float | None = None
    """When the last SUBSCRIBE was ACKed: from then on the server delivers all of `streams`."""
    closed_s: float | None = None


class FakeBinanceWs:
    def __init__(self, push_every_s: float = 0.05) -> None:
        self.push_every_s = push_every_s
        self.conns: list[ServerConn] = []
        self.silenced: set[str] = set()
        self.subscribe_log: list[tuple[str, list[str]]] = []
        self._server: Server | None = None
        self.port = 0

    async def __aenter__(self) -> FakeBinanceWs:
        self._server = await serve(self._handle, "127.0.0.1", 0, compression=None)
        self.port = next(iter(self._server.sockets)).getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def open_conns(self) -> list[ServerConn]:
        return [c for c in self.conns if c.closed_s is None]

    def max_control_per_s(self) -> int:
        """Most control messages any connection sent within one sliding second."""
        worst = 0
        for conn in self.conns:
            times = conn.control_times_s
            j = 0
            for i, t in enumerate(times):
                while t - times[j] >= 1.0:
                    j += 1
                worst = max(worst, i - j + 1)
        return worst

    async def shutdown_notice(self) -> None:
        for conn in self.open_conns():
            await conn.ws.send(
                json.dumps({"stream": "!serverShutdown", "data": {"e": "serverShutdown", "E": 1}})
            )

    async def drop_all(self) -> None:
        for conn in self.open_conns():
            await conn.ws.close()

    async def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        conn = ServerConn(ws.request.path, ws)
        self.conns.append(conn)
        pusher = asyncio.create_task(self._push(conn))
        try:
            async for raw in ws:
                conn.control_times_s.append(time.monotonic())
                msg = json.loads(raw)
                params = msg.get("params", [])
                if msg["method"] == "SUBSCRIBE":
                    if len(conn.streams | set(params)) > 1024:
                        await ws.send(
                            json.dumps(
                                {"error": {"code": 4, "msg": "Too many subscriptions"}, "id": msg["id"]}
                            )
                        )
                        continue
                    conn.streams.update(params)
                    self.subscribe_log.append((conn.path, params))
                    conn.subscribed_s = time.monotonic()
                elif msg["method"] == "UNSUBSCRIBE":
                    conn.streams.difference_update(params)
                await ws.send(json.dumps({"result": None, "id": msg["id"]}))
        except Exception:
            pass
        finally:
            conn.closed_s = time.monotonic()
            pusher.cancel()

    async def _push(self, conn: ServerConn) -> None:
        n = 0
        while True:
            await asyncio.sleep(self.push_every_s)
            n += 1
            for stream in list(conn.streams):
                if stream in self.silenced or "@kline_" not in stream:
                    continue
                symbol, _, rest = stream.partition("@kline_")
                frame = {
                    "stream": stream,
                    "data": {
                        "e": "kline",
                        "E": 1767225600000 + n,
                        "s": symbol.upper(),
                        "k": {
                            "t": 1767225600000,
                            "T": 1767225659999,
                            "s": symbol.upper(),
                            "i": rest,
                            "f": 1,
                            "L": 2,
                            "o": "1.0",
                            "c": "1.0",
                            "h": "1.0",
                            "l": "1.0",
                            "v": "1.0",
                            "n": 2,
                            "x": False,
                            "q": "1.0",
                            "V": "0.5",
                            "Q": "0.5",
                            "B": "0",
                        },
                    },
                }
                try:
                    await conn.ws.send(json.dumps(frame))
                except Exception:
                    return
