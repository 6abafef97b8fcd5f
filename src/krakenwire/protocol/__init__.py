"""The one place that knows Kraken's wire: shared by the client and the sandbox.

Submodules:

* :mod:`krakenwire.protocol.errors` — Kraken's error strings, exactly as sent.
* :mod:`krakenwire.protocol.limits` — REST and trading rate-limit models (pure, clocked).
* :mod:`krakenwire.protocol.naming` — pairs and assets in their REST / WS v1 / WS v2 forms.
* :mod:`krakenwire.protocol.rest` — REST request bodies and the response envelope.
* :mod:`krakenwire.protocol.v2` / :mod:`krakenwire.protocol.v1` — WebSocket codecs.
"""
