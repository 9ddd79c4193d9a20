"""One WebSocket frame -> one message, or the reason it cannot be one.

A frame is the peer's data, not ours: whatever it holds (bytes that are not UTF-8,
text that is not JSON, JSON nested deep enough to exhaust the parser's recursion) must
cost the feed that frame only, never the connection or the feed itself.
"""

from __future__ import annotations

import json
from typing import Any

NOT_JSON = "not JSON"
NOT_AN_OBJECT = "not a JSON object"
UNREADABLE = "unreadable JSON"


def decode_frame(payload: bytes | str) -> dict[str, Any] | str:
    """The JSON object in ``payload``, or a short reason (a ``str``) why it is dropped."""
    try:
        message = json.loads(payload)
    except ValueError:
        return NOT_JSON
    except (RecursionError, MemoryError):
        return UNREADABLE
    if not isinstance(message, dict):
        return NOT_AN_OBJECT
    return message
