"""What both example-app suites send: the route table and the invalid
tokens (the 401 invalid_token answers)."""

from __future__ import annotations

import time

from rs_guard.testing import TokenIssuer

READ, WRITE = "read:appointments", "write:appointments"

#: The example routes: (method, path, scopes granted, expected status).
ROUTE_TABLE = [
    ("GET", "/appointments", [READ], 200),
    ("GET", "/appointments", [WRITE], 403),
    ("GET", "/appointments", [], 403),
    ("POST", "/appointments", [WRITE], 201),
    ("POST", "/appointments", [READ], 403),
    ("DELETE", "/appointments/7", [READ, WRITE], 200),
    ("DELETE", "/appointments/7", [READ], 403),
    ("DELETE", "/appointments/7", [WRITE], 403),
]


def invalid_tokens(issuer: TokenIssuer) -> dict[str, str]:
    """One token per way a token can be invalid, keyed by a short name (the test id)."""
    other = TokenIssuer(issuer=issuer.issuer, audience=issuer.audience)  # another key
    hs = TokenIssuer(issuer=issuer.issuer, audience=issuer.audience, algorithm="HS256")
    now = int(time.time())
    return {
        "bad-signature": other.mint(scopes=[READ], headers={"kid": issuer.current.kid}),
        "wrong-alg": hs.mint(scopes=[READ]),
        "expired": issuer.mint(scopes=[READ], claims={"iat": now - 7200, "exp": now - 3600}),
        "not-yet-valid": issuer.mint(scopes=[READ], claims={"nbf": now + 3600}),
        "wrong-issuer": issuer.mint(scopes=[READ], claims={"iss": "https://evil.example/"}),
        "wrong-audience": issuer.mint(scopes=[READ], claims={"aud": "https://other.example"}),
        "missing-exp": issuer.mint(scopes=[READ], drop=["exp"]),
        "wrong-typ": issuer.mint(scopes=[READ], headers={"typ": "dpop+jwt"}),
        "malformed": "not-a.jwt",
        "too-large": issuer.mint(scopes=[READ], claims={"pad": "x" * 20000}),
        "alg-none": "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ4In0.",
        "unchecked-cnf": issuer.mint(scopes=[READ], cnf={"x5t#S256": "A" * 43}),
    }
