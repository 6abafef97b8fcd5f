"""Private WebSocket sessions: v2, and the legacy v1 session built on the same parts.

* :mod:`krakenwire.ws.v2` — :class:`~krakenwire.ws.v2.PrivateSocket`, the v2 session.
* :mod:`krakenwire.ws.v1` — :class:`~krakenwire.ws.v1.PrivateSocketV1`, the v1 session.
* :mod:`krakenwire.ws.session` — the protocol-independent half of a session (tokens,
  reconnect and resubscribe, requests, open-orders view, reconcile, dead-man switch).
* :mod:`krakenwire.ws.connection` — the shared I/O shell: connect, reader, watchdog,
  reconnect with backoff (:class:`~krakenwire.ws.connection.ReconnectingSocket`).
* :mod:`krakenwire.ws.requests` — int32 request ids and reply futures.
* :mod:`krakenwire.ws.streams` — bounded user-facing streams that report overflow as a gap.
* :mod:`krakenwire.ws.timing` — backoff and watchdog decisions (pure).
* :mod:`krakenwire.ws.events` — the typed lifecycle events.
"""
