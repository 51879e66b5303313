"""The appointments API of ``examples/fastapi_app.py``, shipped for ``rs-guard demo``.

Used only when the package is installed without its repository (a wheel): the demo
prefers the repository's example. Settings come from ``RS_GUARD_*`` at import.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Security

from rs_guard import AccessToken, load_config
from rs_guard.adapters.fastapi import RSGuard

READ = "read:appointments"
WRITE = "write:appointments"

auth = RSGuard(load_config())
app = FastAPI(title="rs_guard demo: appointments")
auth.install(app, public_paths=["/health"])


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
    return {"appointments": [{"id": "1", "title": "dentist"}], "sub": token.subject}


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
