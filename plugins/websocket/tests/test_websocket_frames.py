"""Hostile frames cost the feed one frame, never the connection or the feed."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from qmtl_core.testing import until
from qmtl_core.testing.scenarios import run_with_deadline as run
from qmtl_plugin_websocket.feed import WebSocketFeed
from qmtl_plugin_websocket.frames import NOT_AN_OBJECT, NOT_JSON, UNREADABLE, decode_frame
from qmtl_plugin_websocket.gateway import Gateway

from .conftest import TOKEN

DEEP = "[" * 200_000 + "]" * 200_000


def test_deeply_nested_json_is_dropped_and_the_feed_keeps_delivering(gateway: Gateway) -> None:
    received: list[dict[str, Any]] = []

    async def on_msg(message: dict[str, Any]) -> None:
        received.append(message)

    async def scenario() -> None:
        async with WebSocketFeed(gateway.url, on_message=on_msg, token=TOKEN) as feed:
            gateway.wait_for_connections()
            gateway.send_raw(DEEP, '{"a":' * 100_000 + "1" + "}" * 100_000)
            gateway.broadcast({"n": 1})
            await until(lambda: len(received) == 1)
            assert feed.state == "connected"
            assert (feed.stats.dropped, feed.stats.connects) == (2, 1)

    run(scenario())
    assert received == [{"n": 1}]


def test_decode_frame_reasons() -> None:
    assert decode_frame(b'{"a": 1}') == {"a": 1}
    assert decode_frame(b"\xff\xfe{") == NOT_JSON
    assert decode_frame("[1]") == NOT_AN_OBJECT
    assert decode_frame(DEEP) == UNREADABLE


json_values = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=200),
        st.text(max_size=200),
        json_values.map(json.dumps),
        st.integers(min_value=1, max_value=50_000).map(lambda n: "[" * n + "]" * n),
        st.integers(min_value=1, max_value=50_000).map(lambda n: '{"k":' * n + "0" + "}" * n),
    )
)
def test_any_payload_is_a_message_or_a_reason(payload: bytes | str) -> None:
    result = decode_frame(payload)
    assert isinstance(result, dict) or result in (NOT_JSON, NOT_AN_OBJECT, UNREADABLE)
