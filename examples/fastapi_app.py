"""The example API on FastAPI, configured from the environment (docs/settings.md).

Run: ``RS_GUARD_DOMAIN=tenant.example.com RS_GUARD_AUDIENCE=https://api.example.com \\
uvicorn examples.fastapi_app:app``. ``/health`` and the OpenAPI pages are public; every
other route needs a valid access token, checked by :class:`RSGuardMiddleware`; each
operation's scopes are a ``Security(...)`` dependency, so ``/docs`` shows them. With an
``*_authz`` dialect and ``enforce_policies`` the scopes are looked up in ``permissions``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Security

from rs_guard import AccessToken
from rs_guard.adapters.fastapi import RSGuard
from rs_guard.loaders import load_config

READ = "read:appointments"
WRITE = "write:appointments"

auth = RSGuard(load_config())
app = FastAPI(title="rs_guard example: appointments")
auth.install(app, public_paths=["/health"])  # /docs, /redoc, /openapi.json stay public

_APPOINTMENTS: list[dict[str, Any]] = [{"id": "1", "title": "dentist"}]


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/me")
async def me(token: Annotated[AccessToken, Security(auth)]) -> dict[str, Any]:
    return token.to_dict()


@app.get("/appointments")
async def list_appointments(
    token: Annotated[AccessToken, Security(auth, scopes=[READ])],
) -> dict[str, Any]:
    return {"appointments": _APPOINTMENTS, "sub": token.subject}


@app.post("/appointments", status_code=201)
async def create_appointment(
    token: Annotated[AccessToken, Security(auth, scopes=[WRITE])],
) -> dict[str, Any]:
    return {"id": "2", "created_by": token.subject}


@app.delete("/appointments/{appointment_id}")
async def delete_appointment(
    appointment_id: str,
    token: Annotated[AccessToken, Security(auth, scopes=[READ, WRITE])],
) -> dict[str, Any]:
    return {"deleted": appointment_id}
