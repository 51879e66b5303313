"""The ASGI rows of ``benchmarks/http_all.py``: one FastAPI app, one variant per server.

uvicorn imports :func:`make_app` (``benchmarks.http_load:make_app --factory``); the
variant comes from ``RS_GUARD_BENCH_APP`` and the settings from the ``RS_GUARD_*``
variables (a :class:`~rs_guard.testing.JWKSServer` on loopback serves the keys). Every
variant answers ``GET /hello`` with the same ``PlainTextResponse("hello")``, so a row
differs from ``unprotected`` only by its authentication:

* ``unprotected``: the plain route (the baseline);
* ``noop_dep``: ``Security(nothing, scopes=[...])`` with a dependency that takes no
  parameter and checks nothing: the floor of the FastAPI ``Security`` idiom;
* ``noop_dep_params``: the same dependency with ``RSGuard.__call__``'s parameters
  (``HTTPConnection``, ``SecurityScopes``): what FastAPI charges for filling them;
* ``thin_cache``: a pure-ASGI middleware, dict token cache (exp re-checked on a hit,
  :class:`~benchmarks.references.StrictVerifier` on a miss), scope check;
* ``thin_strict``: the same middleware verifying every request, no cache;
* ``thin_pyjwt``: the same middleware calling PyJWT's ``jwt.decode`` every request;
* ``mw_requires``: :class:`rs_guard.adapters.starlette.RSGuardMiddleware` and Starlette's own
  ``requires(scope)`` on the endpoint;
* ``requires_floor``: a middleware that only sets a fixed ``scope["auth"]``/``scope["user"]``,
  and the same ``requires(scope)``: what Starlette's decorator costs by itself;
* ``mw_bare``: ``RSGuardMiddleware`` before the plain route: the middleware alone;
* ``idiom``: the README's FastAPI idiom, ``auth.install(app)`` and
  ``Security(auth, scopes=[...])`` (``RS_GUARD_TOKEN_CACHE=0`` turns its cache off).
"""

import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Annotated, Any

from benchmarks.references import (
    PyJWTVerifier,
    Refused,
    StrictVerifier,
    fetch_jwks,
    rsa_keys,
)
from benchmarks.runner import PATH, SCOPE, Target, uvicorn_command

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

VARIANTS = (
    "unprotected",
    "noop_dep",
    "noop_dep_params",
    "thin_cache",
    "thin_strict",
    "thin_pyjwt",
    "mw_requires",
    "requires_floor",
    "mw_bare",
    "idiom",
)


def make_app() -> Any:
    """The benchmark app of the variant named by ``RS_GUARD_BENCH_APP``."""
    from fastapi import FastAPI, Security
    from fastapi.security import SecurityScopes
    from starlette.requests import HTTPConnection, Request
    from starlette.responses import PlainTextResponse

    variant = os.environ.get("RS_GUARD_BENCH_APP", "unprotected")
    if variant not in VARIANTS:
        raise SystemExit(f"unknown RS_GUARD_BENCH_APP {variant!r}")
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    if variant == "noop_dep":

        async def nothing() -> None:
            return None

        @app.get(PATH)
        async def hello_noop(_: Annotated[None, Security(nothing, scopes=[SCOPE])]) -> Any:
            return PlainTextResponse("hello")

    elif variant == "noop_dep_params":

        async def nothing_with(connection: HTTPConnection, security_scopes: SecurityScopes) -> None:
            return None

        @app.get(PATH)
        async def hello_params(_: Annotated[None, Security(nothing_with, scopes=[SCOPE])]) -> Any:
            return PlainTextResponse("hello")

    elif variant == "mw_requires":
        from starlette.authentication import requires

        from rs_guard.adapters.starlette import RSGuardMiddleware
        from rs_guard.loaders import load_config

        app.add_middleware(RSGuardMiddleware, config=load_config())

        @app.get(PATH)
        @requires(SCOPE)
        async def hello_requires(request: Request) -> Any:
            return PlainTextResponse("hello")

    elif variant == "requires_floor":
        from starlette.authentication import requires

        app.add_middleware(FixedPrincipal)

        @app.get(PATH)
        @requires(SCOPE)
        async def hello_floor(request: Request) -> Any:
            return PlainTextResponse("hello")

    elif variant == "mw_bare":
        from rs_guard.adapters.starlette import RSGuardMiddleware
        from rs_guard.loaders import load_config

        app.add_middleware(RSGuardMiddleware, config=load_config())

        @app.get(PATH)
        async def hello_bare() -> Any:
            return PlainTextResponse("hello")

    elif variant == "idiom":
        from rs_guard import AccessToken, load_config
        from rs_guard.adapters.fastapi import RSGuard

        auth = RSGuard(load_config())
        auth.install(app)
        Reader = Annotated[AccessToken, Security(auth, scopes=[SCOPE])]

        @app.get(PATH)
        async def hello_idiom(token: Reader) -> Any:
            return PlainTextResponse("hello")

    else:

        @app.get(PATH)
        async def hello() -> Any:
            return PlainTextResponse("hello")

        if variant.startswith("thin_"):
            app.add_middleware(ThinMiddleware, kind=variant.removeprefix("thin_"))
    return app


async def _refuse(send: Send, status: int) -> None:
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": b""})


class FixedPrincipal:
    """Sets one fixed ``scope["auth"]``/``scope["user"]`` (the ``requires_floor`` variant)."""

    def __init__(self, app: ASGIApp) -> None:
        from starlette.authentication import AuthCredentials, SimpleUser

        self.app = app
        self.auth = AuthCredentials([SCOPE])
        self.user = SimpleUser("bench")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["auth"], scope["user"] = self.auth, self.user
        await self.app(scope, receive, send)


class ThinMiddleware:
    """The references: a pure-ASGI middleware, the token from ``Authorization: Bearer``.

    ``kind``: ``cache`` (dict of verified tokens, ``exp``/``nbf`` re-checked on every hit,
    the strict verifier on a miss), ``strict`` (the strict verifier every request) or
    ``pyjwt`` (``jwt.decode`` every request). The scope is checked; the claims go to
    ``scope["claims"]``. No RFC 6750 details: the least a middleware can do.
    """

    def __init__(self, app: ASGIApp, kind: str) -> None:
        self.app = app
        issuer = os.environ["RS_GUARD_ISSUER"]
        audience = os.environ["RS_GUARD_AUDIENCE"]
        keys = rsa_keys(fetch_jwks(os.environ["RS_GUARD_JWKS_URI"]))
        self.verify: Callable[[str], dict[str, Any]]
        if kind == "pyjwt":
            self.verify = PyJWTVerifier(next(iter(keys.values())), issuer, audience).verify
        else:
            self.verify = StrictVerifier(keys, issuer, audience).verify
        self.cached = kind == "cache"
        self.cache: dict[str, tuple[dict[str, Any], float, float, frozenset[str]]] = {}

    def _claims(self, token: str) -> tuple[dict[str, Any], frozenset[str]] | None:
        now = time.time()
        if self.cached:
            entry = self.cache.get(token)
            if entry is not None and entry[1] <= now < entry[2]:
                return entry[0], entry[3]
        try:
            claims = self.verify(token)
        except Refused:
            return None
        scope_claim = claims.get("scope")
        scopes = frozenset(scope_claim.split()) if isinstance(scope_claim, str) else frozenset()
        if self.cached:
            if len(self.cache) >= 4096:
                self.cache.clear()
            nbf = claims.get("nbf")
            start = float(nbf) if isinstance(nbf, (int, float)) else float("-inf")
            self.cache[token] = (claims, start, float(claims["exp"]), scopes)
        return claims, scopes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                header = value
                break
        if not header.startswith(b"Bearer "):
            await _refuse(send, 401)
            return
        found = self._claims(header[7:].decode("ascii", "replace"))
        if found is None:
            await _refuse(send, 401)
            return
        if SCOPE not in found[1]:
            await _refuse(send, 403)
            return
        scope["claims"] = found[0]
        await self.app(scope, receive, send)


def targets(rs_env: dict[str, str], *, diagnostic: bool = False) -> list[Target]:
    """The ASGI rows (group ``asgi``), in table order."""

    def row(
        name: str, app: str, about: str, aim: tuple[str, float] | None = None, **env: str
    ) -> Target:
        return Target(
            name,
            "asgi",
            uvicorn_command,
            {**rs_env, "RS_GUARD_BENCH_APP": app, **env},
            baseline=app == "unprotected",
            protects=app.startswith(("thin_", "mw_", "idiom")),
            aim=aim,
            about=about,
        )

    unprotected = "FastAPI unprotected"
    noop = "FastAPI no-op Security dependency"
    rows = [
        row(unprotected, "unprotected", "the plain route, no authentication (the baseline)"),
        row(noop, "noop_dep", "Security(nothing, scopes=[...]): the idiom's own floor"),
    ]
    if diagnostic:
        rows.append(
            row(
                "no-op dependency with (HTTPConnection, SecurityScopes)",
                "noop_dep_params",
                "the floor with RSGuard.__call__'s parameters",
            )
        )
    rows += [
        row("thin middleware, dict cache (reference)", "thin_cache", "pure ASGI, dict cache"),
        row(
            "thin middleware, hand-rolled strict verifier (reference)",
            "thin_strict",
            "pure ASGI, RS256 + claims on cryptography, every request",
        ),
        row("thin middleware, PyJWT jwt.decode", "thin_pyjwt", "pure ASGI, jwt.decode"),
        row(
            "rs_guard middleware + Starlette requires, cache on",
            "mw_requires",
            "RSGuardMiddleware, starlette.authentication.requires",
            aim=(unprotected, 0.95),
        ),
        row(
            "rs_guard README idiom, cache on",
            "idiom",
            "auth.install(app) + Security(auth, scopes=[...])",
            aim=(noop, 0.90),
        ),
        row(
            "rs_guard README idiom, cache off",
            "idiom",
            "the same, RS_GUARD_TOKEN_CACHE=0",
            aim=(unprotected, 0.55),
            RS_GUARD_TOKEN_CACHE="0",
        ),
    ]
    return rows


if __name__ == "__main__":
    from benchmarks.http_all import main

    raise SystemExit(main(["--only", "asgi"]))
