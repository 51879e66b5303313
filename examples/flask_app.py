"""The example API on Flask, configured from the ``RS_GUARD_*`` environment.

Run it with the development server or under gunicorn (threads are fine: the guard is
thread-safe and fetches the issuer's keys once)::

    export RS_GUARD_DOMAIN=your-tenant.eu.auth0.com RS_GUARD_AUDIENCE=https://api.example.com
    flask --app examples.flask_app run
    gunicorn --threads 8 examples.flask_app:app

| route                           | access                                      |
| ------------------------------- | ------------------------------------------- |
| ``GET /health``                 | public                                      |
| ``GET /me``                     | any valid access token                      |
| ``GET /appointments``           | ``read:appointments``                       |
| ``POST /appointments``          | ``write:appointments`` (201)                |
| ``DELETE /appointments/<id>``   | ``read:appointments`` and ``write:appointments`` |

With an ``*_authz`` dialect and ``enforce_policies``, the same requirements are checked
against the token's ``permissions`` claim.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from rs_guard.adapters.flask import RSGuard, current_token
from rs_guard.loaders import load_config

READ = "read:appointments"
WRITE = "write:appointments"

app = Flask(__name__)
guard = RSGuard(app, config=load_config())

_APPOINTMENTS: list[dict[str, Any]] = [{"id": "1", "title": "dentist"}]


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/me")
@guard.require()
def me() -> dict[str, Any]:
    return current_token.to_dict()


@app.get("/appointments")
@guard.require(READ)
def list_appointments() -> dict[str, Any]:
    return {"appointments": _APPOINTMENTS, "sub": current_token.subject}


@app.post("/appointments")
@guard.require(WRITE)
def create_appointment() -> tuple[dict[str, Any], int]:
    return {"id": "2", "created_by": current_token.subject}, 201


@app.delete("/appointments/<appointment_id>")
@guard.require(READ, WRITE)
def delete_appointment(appointment_id: str) -> dict[str, Any]:
    return {"deleted": appointment_id}
