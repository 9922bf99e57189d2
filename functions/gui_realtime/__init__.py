"""The WebSocket API's function: connect, subscribe, resume from a cursor, acknowledge, ping."""
