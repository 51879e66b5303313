"""An MCP server (``mcp`` 2.x, streamable HTTP) protected by an Auth0 API through rs_guard.

The API identifier is the MCP server's own URL (``RS_GUARD_AUDIENCE=https://mcp.example.com/mcp``):
clients ask Auth0 for a token with that ``audience`` (RFC 8707 ``resource``), and rs_guard
refuses any token minted for another API. Resource metadata (RFC 9728) is always on here,
as the MCP authorization spec requires: a client without a token gets a 401 whose
challenge names ``/.well-known/oauth-protected-resource/mcp``, where it finds the tenant.

Run::

    export RS_GUARD_DOMAIN=your-tenant.eu.auth0.com RS_GUARD_AUDIENCE=https://mcp.example.com/mcp
    uvicorn examples.mcp_server:app --port 8000

Tools: ``list_appointments`` (any valid token) and ``create_appointment`` (needs
``write:appointments``, read from the verified token inside the tool).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings

from rs_guard import AccessToken, GuardConfig
from rs_guard.adapters.asgi import RSGuardMiddleware, token_from_scope
from rs_guard.errors import InsufficientScope
from rs_guard.loaders import load_config
from rs_guard.requirements import all_of

WRITE = "write:appointments"
_can_write = all_of(WRITE)

server = MCPServer("appointments")
_APPOINTMENTS: list[dict[str, str]] = [{"id": "1", "title": "dentist"}]


def verified_token(ctx: Context) -> AccessToken:
    """The token RSGuardMiddleware verified for the HTTP request that carried this call."""
    request: Any = ctx.request_context.request  # the Starlette request, over HTTP
    token = token_from_scope(request.scope) if request is not None else None
    if token is None:  # unreachable behind the middleware: fail closed all the same
        raise ToolError("this tool requires an access token")
    return token


@server.tool()
async def list_appointments(ctx: Context) -> dict[str, Any]:
    """The appointments (any valid token)."""
    return {"appointments": _APPOINTMENTS, "sub": verified_token(ctx).subject}


@server.tool()
async def create_appointment(title: str, ctx: Context) -> dict[str, Any]:
    """Create an appointment (the token must grant ``write:appointments``)."""
    token = verified_token(ctx)
    try:
        _can_write(token)
    except InsufficientScope as exc:
        raise ToolError(f"insufficient_scope: this tool requires the scope {WRITE}") from exc
    return {"id": str(len(_APPOINTMENTS) + 1), "title": title, "created_by": token.subject}


def create_app(config: GuardConfig | None = None) -> RSGuardMiddleware:
    """The MCP app behind RSGuardMiddleware, for ``config`` (default: the environment).

    The MCP endpoint is the identifier's path (``/mcp``); only the identifier's host may
    be named in ``Host`` (the SDK's DNS-rebinding protection).
    """
    config = config if config is not None else load_config(resource_metadata=True)
    identifier = urlsplit(config.audience)
    mcp_app = server.streamable_http_app(
        streamable_http_path=identifier.path or "/mcp",
        stateless_http=True,  # every HTTP request carries (and rs_guard checks) its own token
        json_response=True,
        transport_security=TransportSecuritySettings(
            allowed_hosts=[identifier.netloc],
            allowed_origins=[f"{identifier.scheme}://{identifier.netloc}"],
        ),
    )
    return RSGuardMiddleware(mcp_app, config=config)


app = create_app()
