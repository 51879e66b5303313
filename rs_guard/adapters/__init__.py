"""Framework adapters: ASGI (Starlette, FastAPI) and WSGI (Flask).

Each framework is an optional extra, so nothing here imports one: import the adapter
module you need (``rs_guard.adapters.starlette``, ``rs_guard.adapters.fastapi``,
``rs_guard.adapters.asgi``, ``rs_guard.adapters.flask``, ``rs_guard.adapters.wsgi``).
The framework-neutral parts they share (none imports a framework):

* ``_shell``: the shell core both middlewares call (public paths, authenticate-or-refuse,
  the refusal, which settings verified a request's token);
* ``_asgi_io``: reading and answering an ASGI connection;
* ``_routes``: route requirements, their order, the start-up scope check;
* ``_decorate``: the decorator core of Starlette ``requires``, FastAPI ``auth.requires``
  and Flask ``require*``;
* ``_app_settings``: ``RS_GUARD_*`` keys from a Flask ``app.config``.

Who imports whom: ``asgi`` and ``wsgi`` (protocol glue) import the shared parts and the
core; ``starlette`` imports ``asgi``; ``fastapi`` imports ``starlette``; ``flask`` imports
``wsgi``. Nothing imports back up that chain.
"""

from __future__ import annotations

__all__: list[str] = []
