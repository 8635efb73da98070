"""A loopback TCP relay in front of the node's port: closing it cuts the monitor's WebSocket (and refuses new
connections) while the node itself, reached directly, keeps mining. Lets a test decide exactly which blocks
the socket cannot see."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from cryptoradar.sources.evm.devchain import free_port


@dataclass
class TcpRelay:
    target_port: int
    port: int = field(default_factory=free_port)
    _server: asyncio.Server | None = None
    _pipes: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def close(self) -> None:
        """Stop listening and drop every relayed connection (the client sees the TCP close)."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _accept(self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._pipes.add(task)
        node_out: asyncio.StreamWriter | None = None
        try:
            node_in, node_out = await asyncio.open_connection("127.0.0.1", self.target_port)
            await asyncio.gather(_pipe(client_in, node_out), _pipe(node_in, client_out))
        except OSError:
            pass
        finally:
            self._pipes.discard(task)
            for writer in (client_out, node_out):
                if writer is not None:
                    writer.close()
                    with contextlib.suppress(OSError):
                        await writer.wait_closed()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()
