"""The local gateway's own promises: async start/stop, and publish() that follows TCP."""

from __future__ import annotations

import asyncio

from qmtl_core.testing import until
from qmtl_core.testing.scenarios import run_with_deadline as run
from qmtl_plugin_websocket.client import WebSocketClient
from qmtl_plugin_websocket.gateway import Gateway

from .conftest import TOKEN

PADDED = {"event": "price", "pad": "x" * 100_000}


def test_async_gateway_publishes_and_a_stalled_publish_ends_when_the_client_drops() -> None:
    async def scenario() -> None:
        async with Gateway(TOKEN) as gateway:
            await gateway.publish({"event": "nobody listens"})  # no connection: returns at once
            client = WebSocketClient(gateway.url, token=TOKEN)
            client.connect()  # and never reads: the gateway's socket buffers fill up
            try:
                gateway.wait_for_connections()
                publisher = asyncio.create_task(gateway.publish(*[PADDED] * 200))  # 20 MB
                await until(lambda: gateway.write_backlog > 0)
                assert not publisher.done()
                gateway.drop_connections()
                await asyncio.wait_for(publisher, 5)
                assert gateway.messages_sent < 200
            finally:
                client.close()
        assert gateway.open_connections == 0

    run(scenario())
