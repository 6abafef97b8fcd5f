"""Private WebSocket sessions (v2 and legacy v1)."""
