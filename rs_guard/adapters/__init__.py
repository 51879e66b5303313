"""Framework adapters: ASGI (Starlette, FastAPI) and WSGI (Flask).

Each framework is an optional extra, so nothing here imports one: import the adapter
module you need (``rs_guard.adapters.starlette``, ``rs_guard.adapters.fastapi``,
``rs_guard.adapters.asgi``, ``rs_guard.adapters.flask``, ``rs_guard.adapters.wsgi``).
:mod:`rs_guard.adapters._common` holds the framework-neutral parts they share.
"""

from __future__ import annotations

__all__: list[str] = []
