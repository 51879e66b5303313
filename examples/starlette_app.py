"""The example API on Starlette, configured from the environment (docs/settings.md).

Run: ``RS_GUARD_DOMAIN=tenant.example.com RS_GUARD_AUDIENCE=https://api.example.com \\
uvicorn examples.starlette_app:app``. :class:`RSGuardMiddleware` verifies every request
but ``/health``; ``@requires`` states what each route needs. With an ``*_authz`` dialect and
``enforce_policies`` the scopes are looked up in ``permissions``.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from rs_guard.adapters.asgi import RSGuardMiddleware
from rs_guard.adapters.starlette import requires, token_of
from rs_guard.loaders import load_config

READ = "read:appointments"
WRITE = "write:appointments"


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def me(request: Request) -> JSONResponse:
    return JSONResponse(token_of(request).to_dict())


@requires(READ)
async def list_appointments(request: Request) -> JSONResponse:
    return JSONResponse({"appointments": [{"id": "1", "title": "dentist"}]})


@requires(WRITE)
async def create_appointment(request: Request) -> JSONResponse:
    return JSONResponse({"id": "2", "created_by": token_of(request).subject}, status_code=201)


@requires(READ, WRITE)
async def delete_appointment(request: Request) -> JSONResponse:
    return JSONResponse({"deleted": request.path_params["appointment_id"]})


app = Starlette(
    routes=[
        Route("/health", health),
        Route("/me", me),
        Route("/appointments", list_appointments, methods=["GET"]),
        Route("/appointments", create_appointment, methods=["POST"]),
        Route("/appointments/{appointment_id}", delete_appointment, methods=["DELETE"]),
    ],
    middleware=[Middleware(RSGuardMiddleware, config=load_config(), public_paths=["/health"])],
)
