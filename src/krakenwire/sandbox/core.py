"""SandboxCore: the exchange, gate and store wired together for the transports.

INTERFACE CONTRACT (implemented with the REST server work; used by REST, WS v1 and WS v2):

``SandboxCore(clock, exchange, gate, store, settings)`` with attributes ``clock``,
``exchange`` (:class:`~krakenwire.sandbox.exchange.Exchange`), ``gate``
(:class:`~krakenwire.sandbox.gate.Gate`), ``store``, ``settings`` (:class:`Settings`),
``faults`` (:class:`Faults`), and:

* ``async commit() -> None`` — group commit of ``exchange.drain_changes()`` plus gate state;
  returns once everything changed so far is durable. Call it before acknowledging anything.
* ``publish(events) -> None`` — fan ``exchange.drain_events()`` out to every listener.
* ``listen(account_id) -> Listener`` — an unbounded ``asyncio.Queue[Event]`` of that account's
  events, to be closed with ``unlisten(listener)``. WS sessions use it for their feeds.
* ``async run(fn) -> (result, events)`` — call ``fn()`` (an exchange operation), drain its events,
  commit, and return; the caller sends its reply and *then* publishes the events (so that, per
  kraken-protocol.md §10, the ack precedes ``pending_new`` unless ``settings.ack_after_events``).
* A background task calls ``exchange.tick()`` (every ``settings.tick_interval`` s on the real
  clock, and at once after every manual clock advance), commits and publishes.

Token rules (gate): ``gate.issue_token(key) -> (token, expires)``;
``gate.check_token(token) -> KeyRecord`` raising ``GateError(INVALID_SESSION)``;
``gate.bind_token(token, conn_id)`` when a private subscription is made,
``gate.unbind_token(token, conn_id)`` when it ends (connection closed / unsubscribed).
Permissions: ``gate.require(key, perm)`` with perm in ``query_funds | query_orders | trade |
websocket``. Trading counter: ``gate.charge_trading(key, pair_id, action, order_age)`` raising
``GateError(ORDER_RATE_LIMIT)``.
"""
