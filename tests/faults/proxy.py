"""A TCP proxy that can lose its upstream on demand: the database (or broker) "goes away" for one app, for real,
while the shared server keeps serving everybody else; loudly (connections reset) or silently (a black hole)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TcpProxy:
    """Forwards 127.0.0.1:port → target. cut() resets every open connection and stops listening (new connections
    are refused, as by a stopped server); black_hole() keeps every connection, open or new, but forwards nothing either
    way (packets dropped by a firewall: no reset, no close, only silence); restore() ends either. Runs its own event
    loop in a thread, so that the code under test (sync, in other threads) talks to it as to a real server."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.connections = 0  # accepted since start: a test can check that traffic really went through
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-proxy", daemon=True)
        self._server: asyncio.Server | None = None
        self._transports: set[asyncio.BaseTransport] = set()
        self._flowing = asyncio.Event()  # cleared: a black hole
        self._flowing.set()

    def start(self) -> TcpProxy:
        self._thread.start()
        self._call(self._listen())
        return self

    def cut(self) -> None:
        self._call(self._cut())

    def black_hole(self) -> None:
        self._call(self._set_flowing(False))

    def restore(self) -> None:
        self._call(self._set_flowing(True))
        self._call(self._listen())

    def stop(self) -> None:
        self._call(self._set_flowing(True))  # else pumps held by a black hole would outlive the loop
        self._call(self._cut())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def _call(self, coroutine: Any) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    async def _set_flowing(self, flowing: bool) -> None:
        # In the loop's thread: an asyncio.Event is not thread-safe.
        if flowing:
            self._flowing.set()
        else:
            self._flowing.clear()

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, reuse_address=True)

    async def _cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for transport in list(self._transports):
            transport.abort()  # RST, not FIN: the client sees the connection die mid-conversation
        self._transports.clear()
        await asyncio.sleep(0)

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.transport.abort()
            return
        pair = {client_writer.transport, upstream_writer.transport}
        self._transports |= pair
        await asyncio.gather(
            self._pump(client_reader, upstream_writer),
            self._pump(upstream_reader, client_writer),
            return_exceptions=True,
        )
        self._transports -= pair

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # In a black hole the bytes are held, not discarded: nothing arrives, as if the packets were dropped, and on
        # restore() they arrive late and in order, as TCP retransmits them once the path is back. Discarding them
        # would desynchronise the protocol on a connection that then carries on, which no real network does.
        try:
            while True:
                await self._flowing.wait()
                if not (data := await reader.read(65536)):
                    break
                await self._flowing.wait()  # read just before the black hole began: held too
                writer.write(data)
                await writer.drain()
        finally:
            with contextlib.suppress(OSError):
                writer.close()
