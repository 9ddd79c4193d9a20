"""The ``websocket`` feed's typed config (no heavy imports: read when listing)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from qmtl_core.errors import ConfigError
from qmtl_core.options import ConnectorConfig, setting
from qmtl_core.redaction import Secret, redact

DEFAULT_QUEUE_SIZE = 1000
_SECONDS = "seconds"

#: Messages sent after every connect; in code also a callable that builds them.
Subscribe = list[Mapping[str, Any] | str]
SubscribeSource = Subscribe | Callable[[], Subscribe] | None


@dataclass(frozen=True, kw_only=True)
class WebSocketFeedConfig(ConnectorConfig):
    """Options of the reconnecting WebSocket feed; ``None`` means the runtime default."""

    url: str = setting("URL of the gateway, e.g. wss://gateway/ws", schemes=("ws", "wss"))
    token: Secret | None = setting(
        "bearer token, sent as 'Authorization: Bearer <token>' (default: $QMTL_WS_TOKEN)",
        default=None,
    )
    subscribe: list[Any] | None = setting(
        "messages sent after every connect (mappings are sent as JSON)", default=None
    )
    max_retries: int | None = setting(
        "reconnect attempts per outage before giving up (default: no limit)",
        default=None,
        minimum=0,
    )
    max_total_time: float | None = setting(
        "seconds an outage may last before giving up (default: none)", default=None, above=0
    )
    start_timeout: float | None = setting(
        "seconds start() tries to make the first connection before raising FeedError "
        "(default: runtime.WS_START_TIMEOUT_SECONDS, 30)",
        default=None,
        above=0,
    )
    ping_interval: float | None = setting(
        "ping after this many quiet seconds (runtime default)", default=None, above=0
    )
    recv_timeout: float | None = setting(
        "reconnect after this many seconds without a frame", default=None, above=0
    )
    connect_timeout: float | None = setting(
        "TCP, TLS and HTTP handshake timeout in seconds", default=None, above=0
    )
    backoff: float | None = setting(
        "first reconnect delay in seconds (runtime default)", default=None, above=0
    )
    max_backoff: float | None = setting(
        "largest reconnect delay in seconds (runtime default)", default=None, above=0
    )
    healthy_after: float | None = setting(
        "seconds a connection must last to reset the retry budget", default=None, above=0
    )
    queue_size: int = setting(
        "messages held for a slow on_message before reading pauses",
        default=DEFAULT_QUEUE_SIZE,
        minimum=1,
    )

    def check(self) -> None:
        messages = self.subscribe or []
        if not all(isinstance(m, Mapping | str) for m in messages):
            raise ConfigError(
                "must be a list of messages (mappings sent as JSON, or text) or, in code, a "
                f"callable returning one; got {redact(messages)!r}",
                key="subscribe",
            )
