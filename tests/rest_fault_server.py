"""A small Kraken-like REST server with fault switches, for the client's transport tests.

It runs aiohttp.web on 127.0.0.1, port 0, in its own thread (so sync and async clients can
both use it), verifies ``API-Sign`` over the raw body bytes and the nonce order like Kraken,
and serves a few methods with Kraken's shapes. Faults a real exchange cannot produce on demand
are queued per method with :meth:`FaultServer.fault`:

* ``"502"`` — process the call, then answer HTTP 502 with an HTML page (a proxy error);
* ``"hang"`` — process the call, then never answer until :meth:`release` (client times out);
* ``"reset"`` — process the call, then abort the connection without answering;
* ``"nonjson"`` — HTTP 200 with a text body;
* ``"503json"`` — ``{"error":["EService:Unavailable"]}`` with HTTP 503, not processed;
* ``"429"`` — HTTP 429 with an HTML throttle page (no Kraken body), not processed;
* ``"warn"`` — process the call and add a ``W`` warning to the envelope;
* ``"hold"`` — wait until :meth:`release`, then process and answer normally;
* ``"E..."`` (any Kraken error string) — answer with it, not processed.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import secrets
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from krakenwire.auth import Credentials, Signer


@dataclass
class Call:
    """One request the server received."""

    method: str
    private: bool
    nonce: int | None
    body: bytes
    content_type: str
    api_sign: str
    params: dict[str, Any]
    peer: Any
    outcome: str = "ok"


@dataclass
class _Order:
    txid: str
    params: dict[str, Any]
    status: str = "open"


@dataclass
class FaultServer:
    """See the module docstring. Use as a context manager or call start()/stop()."""

    nonce_window: int = 0
    denied: set[str] = field(default_factory=set)
    calls: list[Call] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    url: str = ""

    def __post_init__(self) -> None:
        self.credentials = Credentials(
            "K" + secrets.token_hex(27), base64.b64encode(os.urandom(64)).decode())
        self._signer = Signer(self.credentials.api_secret)
        self._faults: dict[str, deque[str]] = defaultdict(deque)
        self._last_nonce = 0
        self._orders: dict[str, _Order] = {}
        self._cond = threading.Condition()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._release: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.connections: set[Any] = set()

    # -- control ---------------------------------------------------------------------------

    def fault(self, method: str, *faults: str) -> None:
        """Queue faults for the next calls of ``method`` (``"*"``: any method)."""
        with self._cond:
            self._faults[method].extend(faults)

    def release(self) -> None:
        """Let every held / hanging request go on."""
        if self._loop is not None and self._release is not None:
            self._loop.call_soon_threadsafe(self._release.set)

    def wait_calls(self, method: str, count: int, timeout: float = 10.0) -> None:
        """Block until ``count`` calls of ``method`` have arrived."""
        with self._cond:
            ok = self._cond.wait_for(
                lambda: sum(c.method == method for c in self.calls) >= count, timeout)
        if not ok:
            raise TimeoutError(f"{count} calls of {method} did not arrive")

    def calls_of(self, method: str) -> list[Call]:
        """The calls of ``method`` received so far."""
        with self._cond:
            return [c for c in self.calls if c.method == method]

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FaultServer:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self._setup())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._teardown())
            loop.close()

        self._thread = threading.Thread(target=run, name="fault-server", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fault server did not start")
        return self

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        self.release()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _setup(self) -> None:
        self._release = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/0/public/{method}", self._public)
        app.router.add_route("*", "/0/private/{method}", self._private)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    async def _teardown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # -- handlers --------------------------------------------------------------------------

    def _next_fault(self, method: str) -> str | None:
        with self._cond:
            for name in (method, "*"):
                if self._faults[name]:
                    return self._faults[name].popleft()
        return None

    def _record(self, call: Call) -> None:
        with self._cond:
            self.calls.append(call)
            self._cond.notify_all()

    @staticmethod
    def _envelope(result: Any = None, errors: list[str] | None = None) -> web.Response:
        data: dict[str, Any] = {"error": errors or []}
        if result is not None:
            data["result"] = result
        return web.Response(text=json.dumps(data), content_type="application/json")

    async def _apply(self, request: web.Request, fault: str | None,
                     respond: Any) -> web.StreamResponse:
        """Run ``respond()`` under the fault (if any)."""
        assert self._release is not None
        if fault == "hold":
            await self._release.wait()
            return await respond()
        if fault is not None and fault.startswith("E"):
            return self._envelope(errors=[fault])
        if fault == "503json":
            return web.Response(status=503, text='{"error":["EService:Unavailable"]}',
                                content_type="application/json")
        if fault == "nonjson":
            return web.Response(text="Service temporarily busy", content_type="text/plain")
        if fault == "429":
            return web.Response(
                status=429, content_type="text/html",
                text="<html><head><title>429 Too Many Requests</title></head></html>")
        response = await respond()
        if fault == "502":
            return web.Response(
                status=502, content_type="text/html",
                text="<html><head><title>502 Bad Gateway</title></head>"
                     "<body>cloudflare</body></html>")
        if fault == "hang":
            await self._release.wait()
            return response
        if fault == "reset":
            assert request.transport is not None
            request.transport.abort()
            return response
        if fault == "warn":
            assert isinstance(response, web.Response) and response.text
            data = json.loads(response.text)
            data["error"] = ["WGeneral:Test warning"]
            return web.Response(text=json.dumps(data), content_type="application/json")
        return response

    async def _public(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        if request.method != "GET":
            return web.Response(status=405, text="<html><title>405 Not Allowed</title></html>",
                                content_type="text/html")
        self.connections.add(request.transport.get_extra_info("peername")
                             if request.transport else None)
        params = dict(request.query)
        self._record(Call(method, False, None, b"", "", "", params,
                          request.transport.get_extra_info("peername")
                          if request.transport else None))
        fault = self._next_fault(method)

        async def respond() -> web.Response:
            if method == "Time":
                now = int(time.time())
                return self._envelope({"unixtime": now, "rfc1123": "Thu,  1 Jan 26 00:00:00 +0000"})
            if method == "SystemStatus":
                return self._envelope({"status": "online", "timestamp": "2026-01-01T00:00:00Z"})
            if method == "Ticker":
                return self._envelope({"XXBTZUSD": {
                    "a": ["30300.10000", "1", "1.000"], "b": ["30300.00000", "1", "1.000"],
                    "c": ["30303.20000", "0.00067643"], "v": ["4083.67001100", "4412.73601799"],
                    "p": ["30706.77771", "30689.13205"], "t": [34619, 38907],
                    "l": ["29868.30000", "29868.30000"], "h": ["31631.00000", "31631.00000"],
                    "o": "30502.80000"}})
            if method == "Assets":
                return self._envelope({"XXBT": {"aclass": "currency", "altname": "XBT",
                                                "decimals": 10, "display_decimals": 5}})
            if method == "AssetPairs":
                return self._envelope({"XXBTZUSD": {"altname": "XBTUSD", "wsname": "XBT/USD"}})
            return self._envelope(errors=["EGeneral:Unknown method"])

        return await self._apply(request, fault, respond)

    async def _private(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        body = await request.read()
        ctype = request.headers.get("Content-Type", "")
        peer = request.transport.get_extra_info("peername") if request.transport else None
        self.connections.add(peer)
        params: dict[str, Any]
        try:
            if ctype.startswith("application/json"):
                params = json.loads(body)
            else:
                params = dict(parse_qsl(body.decode(), keep_blank_values=True))
            nonce = int(params["nonce"])
        except (ValueError, KeyError):
            return self._envelope(errors=["EAPI:Invalid nonce"])
        sign = request.headers.get("API-Sign", "")
        call = Call(method, True, nonce, body, ctype, sign, params, peer)
        path = f"/0/private/{method}"
        if request.headers.get("API-Key") != self.credentials.api_key or not \
                self._signer.verify(path, str(params["nonce"]), body, sign):
            call.outcome = "EAPI:Invalid key"
            self._record(call)
            return self._envelope(errors=["EAPI:Invalid key"])
        with self._cond:
            fresh = nonce > self._last_nonce - self.nonce_window and nonce > 0
            if fresh:
                self._last_nonce = max(self._last_nonce, nonce)
        if not fresh:
            call.outcome = "EAPI:Invalid nonce"
            self._record(call)
            return self._envelope(errors=["EAPI:Invalid nonce"])
        self._record(call)
        if method in self.denied:
            return self._envelope(errors=["EGeneral:Permission denied"])
        fault = self._next_fault(method)

        async def respond() -> web.Response:
            return self._envelope(*self._result(method, params))

        return await self._apply(request, fault, respond)

    def _result(self, method: str, params: dict[str, Any]) -> tuple[Any, list[str] | None]:
        if method == "GetWebSocketsToken":
            token = base64.b64encode(os.urandom(32)).decode()[:43]
            self.tokens.append(token)
            return {"token": token, "expires": 900}, None
        if method == "Balance":
            return {"ZUSD": "1000.5000", "XXBT": "0.1234567890"}, None
        if method == "BalanceEx":
            return {"ZUSD": {"balance": "1000.5000", "hold_trade": "100.0000"}}, None
        if method == "AddOrder":
            txid = "O" + secrets.token_hex(3).upper() + "-" + secrets.token_hex(3).upper()
            with self._cond:
                self._orders[txid] = _Order(txid, dict(params))
            return {"descr": {"order": f"{params.get('type')} {params.get('volume')} "
                                       f"{params.get('pair')} @ limit {params.get('price')}"},
                    "txid": [txid]}, None
        if method in ("OpenOrders", "ClosedOrders"):
            want = "open" if method == "OpenOrders" else "closed"
            out = {}
            with self._cond:
                for order in self._orders.values():
                    if order.status != want:
                        continue
                    if params.get("cl_ord_id") and \
                            params["cl_ord_id"] != order.params.get("cl_ord_id"):
                        continue
                    out[order.txid] = self._order_json(order)
            key = "open" if method == "OpenOrders" else "closed"
            result: dict[str, Any] = {key: out}
            if method == "ClosedOrders":
                result["count"] = len(out)
            return result, None
        if method == "QueryOrders":
            wanted = str(params.get("txid", "")).split(",")
            with self._cond:
                return {t: self._order_json(self._orders[t]) for t in wanted
                        if t in self._orders}, None
        if method == "CancelOrder":
            with self._cond:
                for order in self._orders.values():
                    if order.status == "open" and (
                            order.txid == params.get("txid")
                            or order.params.get("cl_ord_id") == params.get("cl_ord_id")):
                        order.status = "closed"
                        return {"count": 1}, None
            return None, ["EOrder:Unknown order"]
        if method == "CancelAll":
            with self._cond:
                count = 0
                for order in self._orders.values():
                    if order.status == "open":
                        order.status = "closed"
                        count += 1
            return {"count": count}, None
        if method == "CancelAllOrdersAfter":
            return {"currentTime": "2026-01-01T00:00:00Z",
                    "triggerTime": "0" if str(params.get("timeout")) == "0"
                    else "2026-01-01T00:01:00Z"}, None
        return None, ["EGeneral:Unknown method"]

    @staticmethod
    def _order_json(order: _Order) -> dict[str, Any]:
        p = order.params
        return {"refid": None, "userref": 0, "cl_ord_id": p.get("cl_ord_id"),
                "status": "open" if order.status == "open" else "canceled",
                "opentm": 1688666559.8974, "starttm": 0, "expiretm": 0,
                "descr": {"pair": p.get("pair"), "type": p.get("type"),
                          "ordertype": p.get("ordertype"), "price": p.get("price", "0"),
                          "price2": "0", "leverage": "none", "order": "", "close": ""},
                "vol": p.get("volume"), "vol_exec": "0.00000000", "cost": "0.00000",
                "fee": "0.00000", "price": "0.00000", "stopprice": "0.00000",
                "limitprice": "0.00000", "misc": "", "oflags": "fciq"}


@contextlib.contextmanager
def running(**kwargs: Any) -> Any:
    """``with running() as server:`` — a started :class:`FaultServer`."""
    server = FaultServer(**kwargs).start()
    try:
        yield server
    finally:
        server.stop()
