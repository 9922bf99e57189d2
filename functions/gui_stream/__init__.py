"""Server-sent events of one live channel: the fallback where WebSocket is blocked."""
