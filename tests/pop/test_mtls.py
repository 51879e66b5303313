"""Certificate-bound tokens (RFC 8705 §3) through the core Guard and AsyncGuard."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from rs_guard import AsyncGuard
from rs_guard.config import ProofOfPossession
from rs_guard.errors import InvalidToken, render_error
from rs_guard.testing import TokenIssuer
from rs_guard.testing.pop import DPoPKey, IssuedCert

from ._support import request


def refused(guard: Any, ctx: Any, reason: str) -> InvalidToken:
    with pytest.raises(InvalidToken) as info:
        guard.authenticate(ctx)
    assert info.value.reason == reason
    assert type(info.value) is InvalidToken
    return info.value


def test_bound_token_passes_with_its_certificate(
    make_guard: Any, issuer: TokenIssuer, cert_a: IssuedCert
) -> None:
    guard = make_guard("mtls")
    token = issuer.mint(cnf=cert_a.cnf)
    verified = guard.authenticate(request(token, cert=cert_a.der))
    assert verified.cnf == cert_a.cnf


def test_bound_token_fails_with_another_certificate(
    make_guard: Any, issuer: TokenIssuer, cert_a: IssuedCert, cert_b: IssuedCert
) -> None:
    guard = make_guard("mtls")
    token = issuer.mint(cnf=cert_a.cnf)
    exc = refused(guard, request(token, cert=cert_b.der), "client_cert_mismatch")
    status, headers, body = render_error(exc, guard.challenge)
    assert status == 401
    assert dict(headers)["www-authenticate"] == (
        'Bearer error="invalid_token", '
        'error_description="the client certificate is not the one the token is bound to"'
    )
    assert b"not the one the token is bound to" in body
    assert token.encode() not in body


def test_bound_token_fails_without_certificate(
    make_guard: Any, issuer: TokenIssuer, cert_a: IssuedCert
) -> None:
    guard = make_guard("mtls")
    refused(guard, request(issuer.mint(cnf=cert_a.cnf)), "client_cert_missing")


def test_cache_hit_still_checks_the_certificate(
    make_guard: Any, issuer: TokenIssuer, cert_a: IssuedCert, cert_b: IssuedCert
) -> None:
    guard = make_guard("mtls")
    token = issuer.mint(cnf=cert_a.cnf)
    guard.authenticate(request(token, cert=cert_a.der))
    refused(guard, request(token, cert=cert_b.der), "client_cert_mismatch")


@pytest.mark.parametrize(
    "thumbprint",
    ["", "not-a-thumbprint", "é" * 43, 12345, None],
)
def test_malformed_thumbprint_is_refused(
    make_guard: Any, issuer: TokenIssuer, cert_a: IssuedCert, thumbprint: Any
) -> None:
    guard = make_guard("mtls")
    token = issuer.mint(cnf={"x5t#S256": thumbprint})
    with pytest.raises(InvalidToken):
        guard.authenticate(request(token, cert=cert_a.der))


def test_thumbprint_is_sha256_of_der(cert_a: IssuedCert) -> None:
    import base64

    digest = hashlib.sha256(cert_a.der).digest()
    assert cert_a.thumbprint == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class TestRequired:
    def test_required_refuses_unbound_token(self, make_guard: Any, issuer: TokenIssuer) -> None:
        guard = make_guard("mtls", required=True)
        exc = refused(guard, request(issuer.mint()), "binding_required")
        assert "certificate-bound" in exc.description

    def test_optional_lets_unbound_token_pass(self, make_guard: Any, issuer: TokenIssuer) -> None:
        guard = make_guard("mtls", required=False)
        verified = guard.authenticate(request(issuer.mint()))
        assert verified.cnf is None

    def test_optional_still_checks_bound_token(
        self, make_guard: Any, issuer: TokenIssuer, cert_a: IssuedCert, cert_b: IssuedCert
    ) -> None:
        guard = make_guard("mtls", required=False)
        refused(
            guard, request(issuer.mint(cnf=cert_a.cnf), cert=cert_b.der), "client_cert_mismatch"
        )

    def test_all_clients_is_required(self, make_guard: Any, issuer: TokenIssuer) -> None:
        guard = make_guard("mtls", required_for="all_clients")
        token = issuer.mint(subject="client-1@clients", claims={"gty": "client-credentials"})
        refused(guard, request(token), "binding_required")

    def test_public_clients_lets_client_credentials_pass(
        self, make_guard: Any, issuer: TokenIssuer
    ) -> None:
        guard = make_guard("mtls", required_for="public_clients")
        token = issuer.mint(subject="client-1@clients", claims={"gty": "client-credentials"})
        verified = guard.authenticate(request(token))
        assert verified.is_client is True

    def test_public_clients_requires_user_tokens_bound(
        self, make_guard: Any, issuer: TokenIssuer, cert_a: IssuedCert
    ) -> None:
        guard = make_guard("mtls", required_for="public_clients")
        refused(guard, request(issuer.mint()), "binding_required")
        verified = guard.authenticate(request(issuer.mint(cnf=cert_a.cnf), cert=cert_a.der))
        assert verified.subject == "auth0|user-1"


class TestFailClosed:
    def test_dpop_bound_token_under_mtls(
        self, make_guard: Any, issuer: TokenIssuer, cert_a: IssuedCert, dpop_key: DPoPKey
    ) -> None:
        guard = make_guard("mtls")
        token = issuer.mint(cnf=dpop_key.cnf)
        exc = refused(guard, request(token, cert=cert_a.der), "unchecked_binding")
        assert "DPoP" in exc.description

    def test_unknown_confirmation_method(
        self, make_guard: Any, issuer: TokenIssuer, cert_a: IssuedCert
    ) -> None:
        guard = make_guard("mtls")
        token = issuer.mint(cnf={"jwk": {"kty": "EC"}})
        refused(guard, request(token, cert=cert_a.der), "unchecked_binding")

    def test_extra_member_beside_x5t(
        self, make_guard: Any, issuer: TokenIssuer, cert_a: IssuedCert
    ) -> None:
        guard = make_guard("mtls")
        token = issuer.mint(cnf={**cert_a.cnf, "kid": "k1"})
        refused(guard, request(token, cert=cert_a.der), "unchecked_binding")

    def test_empty_cnf(self, make_guard: Any, issuer: TokenIssuer, cert_a: IssuedCert) -> None:
        guard = make_guard("mtls")
        refused(guard, request(issuer.mint(cnf={}), cert=cert_a.der), "unchecked_binding")

    def test_bound_token_without_pop_settings(
        self, make_guard: Any, issuer: TokenIssuer, cert_a: IssuedCert
    ) -> None:
        guard = make_guard(None)
        refused(guard, request(issuer.mint(cnf=cert_a.cnf), cert=cert_a.der), "unchecked_binding")


class TestProxyHeader:
    """A certificate forwarded by a TLS-terminating proxy, believed only from trusted peers."""

    @pytest.mark.parametrize(
        ("header", "form"),
        [
            ("Client-Cert", "rfc9440"),
            ("X-SSL-Client-Cert", "escaped"),
            ("X-Forwarded-Client-Cert", "xfcc_cert"),
            ("X-Forwarded-Client-Cert", "xfcc_hash"),
            ("X-Forwarded-Client-Cert", "xfcc_both"),
        ],
    )
    def test_forms_from_trusted_proxy(
        self,
        make_guard: Any,
        issuer: TokenIssuer,
        cert_a: IssuedCert,
        cert_b: IssuedCert,
        header: str,
        form: str,
    ) -> None:
        def value(cert: IssuedCert) -> str:
            return {
                "rfc9440": cert.rfc9440,
                "escaped": cert.escaped,
                "xfcc_cert": cert.xfcc(by="spiffe://proxy"),
                "xfcc_hash": cert.xfcc(cert=False, hash=True),
                "xfcc_both": cert.xfcc(hash=True),
            }[form]

        guard = make_guard("mtls", client_cert_header=header, trusted_proxies=("10.0.0.0/8",))
        token = issuer.mint(cnf=cert_a.cnf)
        ok = request(token, peer="10.1.2.3", headers=[(header, value(cert_a))])
        verified = guard.authenticate(ok)
        assert verified.subject == "auth0|user-1"
        bad = request(token, peer="10.1.2.3", headers=[(header, value(cert_b))])
        refused(guard, bad, "client_cert_mismatch")

    def test_header_from_untrusted_peer_is_ignored(
        self, make_guard: Any, issuer: TokenIssuer, cert_a: IssuedCert
    ) -> None:
        guard = make_guard(
            "mtls", client_cert_header="Client-Cert", trusted_proxies=("10.0.0.0/8",)
        )
        token = issuer.mint(cnf=cert_a.cnf)
        forged = request(token, peer="192.0.2.7", headers=[("Client-Cert", cert_a.rfc9440)])
        refused(guard, forged, "client_cert_missing")
        no_peer = request(token, peer=None, headers=[("Client-Cert", cert_a.rfc9440)])
        refused(guard, no_peer, "client_cert_missing")

    def test_header_ignored_when_not_configured(
        self, make_guard: Any, issuer: TokenIssuer, cert_a: IssuedCert
    ) -> None:
        guard = make_guard("mtls", trusted_proxies=("10.0.0.0/8",))
        token = issuer.mint(cnf=cert_a.cnf)
        ctx = request(token, peer="10.1.2.3", headers=[("Client-Cert", cert_a.rfc9440)])
        refused(guard, ctx, "client_cert_missing")

    def test_untrusted_header_does_not_hide_tls_certificate(
        self, make_guard: Any, issuer: TokenIssuer, cert_a: IssuedCert, cert_b: IssuedCert
    ) -> None:
        guard = make_guard("mtls", client_cert_header="Client-Cert", trusted_proxies=("10.0.0.1",))
        token = issuer.mint(cnf=cert_a.cnf)
        ctx = request(
            token, cert=cert_a.der, peer="10.0.0.2", headers=[("Client-Cert", cert_b.rfc9440)]
        )
        verified = guard.authenticate(ctx)
        assert verified.subject == "auth0|user-1"

    def test_trusted_header_wins_over_tls_layer(
        self, make_guard: Any, issuer: TokenIssuer, cert_a: IssuedCert, cert_b: IssuedCert
    ) -> None:
        guard = make_guard("mtls", client_cert_header="Client-Cert", trusted_proxies=("10.0.0.1",))
        token = issuer.mint(cnf=cert_a.cnf)
        ctx = request(
            token, cert=cert_a.der, peer="10.0.0.1", headers=[("Client-Cert", cert_b.rfc9440)]
        )
        refused(guard, ctx, "client_cert_mismatch")

    def test_ipv6_and_mapped_peers(
        self, make_guard: Any, issuer: TokenIssuer, cert_a: IssuedCert
    ) -> None:
        guard = make_guard(
            "mtls", client_cert_header="Client-Cert", trusted_proxies=("127.0.0.1", "fd00::/8")
        )
        token = issuer.mint(cnf=cert_a.cnf)
        for peer in ("fd00::5", "::ffff:127.0.0.1", "[fd00::5]"):
            ctx = request(token, peer=peer, headers=[("Client-Cert", cert_a.rfc9440)])
            verified = guard.authenticate(ctx)
            assert verified.subject == "auth0|user-1"
        for peer in ("fe80::1", "127.0.0.2", "unix:/tmp/socket", "localhost"):
            ctx = request(token, peer=peer, headers=[("Client-Cert", cert_a.rfc9440)])
            refused(guard, ctx, "client_cert_missing")

    @pytest.mark.parametrize(
        ("header", "value", "words"),
        [
            ("Client-Cert", ":not base64!:", "RFC 9440"),
            ("Client-Cert", ":AAAA:", "X.509"),
            ("Client-Cert", "", "empty"),
            (
                "X-SSL-Client-Cert",
                "%2D%2D%2D%2D%2DBEGIN%20CERTIFICATE%2D%2D%2D%2D%2D%0Agarbage",
                "PEM",
            ),
            ("X-SSL-Client-Cert", "hello world", "neither"),
            ("X-Forwarded-Client-Cert", "Hash=zz", "hexadecimal"),
            ("X-Forwarded-Client-Cert", "Hash=abcd", "SHA-256"),
            ("X-Forwarded-Client-Cert", "By=spiffe://x", "neither a Cert nor a Hash"),
            ("X-Forwarded-Client-Cert", 'Cert="unterminated', "not a valid"),
            ("X-Forwarded-Client-Cert", "Hash=" + "00" * 32 + ",Hash=" + "11" * 32, "several"),
            ("X-Forwarded-Client-Cert", "Hash=" + "00" * 32 + ";Hash=" + "11" * 32, "repeats"),
            ("Client-Cert", ":" + "A" * 40_000 + ":", "too large"),
        ],
    )
    def test_malformed_header_from_trusted_proxy_is_refused(
        self,
        make_guard: Any,
        issuer: TokenIssuer,
        cert_a: IssuedCert,
        header: str,
        value: str,
        words: str,
    ) -> None:
        guard = make_guard("mtls", client_cert_header=header)
        token = issuer.mint(cnf=cert_a.cnf)
        ctx = request(token, cert=cert_a.der, peer="127.0.0.1", headers=[(header, value)])
        exc = refused(guard, ctx, "malformed_client_cert")
        assert words in exc.description
        assert render_error(exc, guard.challenge)[0] == 401

    def test_xfcc_hash_not_matching_cert_is_refused(
        self, make_guard: Any, issuer: TokenIssuer, cert_a: IssuedCert, cert_b: IssuedCert
    ) -> None:
        header = "X-Forwarded-Client-Cert"
        guard = make_guard("mtls", client_cert_header=header)
        value = "Hash=" + hashlib.sha256(cert_b.der).hexdigest() + ";" + cert_a.xfcc()
        ctx = request(issuer.mint(cnf=cert_a.cnf), peer="127.0.0.1", headers=[(header, value)])
        exc = refused(guard, ctx, "malformed_client_cert")
        assert "does not match" in exc.description

    def test_two_headers_from_trusted_proxy_are_refused(
        self, make_guard: Any, issuer: TokenIssuer, cert_a: IssuedCert
    ) -> None:
        guard = make_guard("mtls", client_cert_header="Client-Cert")
        lines = [("Client-Cert", cert_a.rfc9440), ("Client-Cert", cert_a.rfc9440)]
        ctx = request(issuer.mint(cnf=cert_a.cnf), peer="127.0.0.1", headers=lines)
        refused(guard, ctx, "malformed_client_cert")


@pytest.mark.anyio
async def test_async_guard_checks_certificates(
    issuer: TokenIssuer, clock: Any, cert_a: IssuedCert, cert_b: IssuedCert
) -> None:
    config = issuer.config(proof_of_possession=ProofOfPossession("mtls", required=True))
    guard = AsyncGuard(config, clock=clock, transport=issuer.transport())
    try:
        token = issuer.mint(cnf=cert_a.cnf)
        verified = await guard.authenticate(request(token, cert=cert_a.der))
        assert verified.subject == "auth0|user-1"
        with pytest.raises(InvalidToken, match="not the one"):
            await guard.authenticate(request(token, cert=cert_b.der))
        with pytest.raises(InvalidToken, match="certificate-bound"):
            await guard.authenticate(request(issuer.mint()))
    finally:
        await guard.aclose()


def test_a_trusted_proxys_own_certificate_never_stands_in_for_the_client(
    make_guard: Any, issuer: TokenIssuer, cert_a: IssuedCert
) -> None:
    """RFC 8705 §3: behind a trusted proxy, the TLS layer's certificate is the proxy's
    (here cert_a, to which the token is bound); without the header the client presented
    none, and the token is refused."""
    from rs_guard.binding.certs import client_cert_from_asgi, client_cert_from_wsgi

    guard = make_guard("mtls", client_cert_header="Client-Cert", trusted_proxies=("10.0.0.1",))
    token = issuer.mint(cnf=cert_a.cnf)
    ctx = request(token, cert=cert_a.der, peer="10.0.0.1")
    refused(guard, ctx, "client_cert_missing")
    config = guard.config
    scope = {
        "client": ("10.0.0.1", 5000),
        "headers": [],
        "extensions": {"tls": {"client_cert_chain": [cert_a.cert_pem.decode()]}},
    }
    assert client_cert_from_asgi(scope, config) is None
    environ = {"REMOTE_ADDR": "10.0.0.1", "SSL_CLIENT_CERT": cert_a.cert_pem.decode()}
    assert client_cert_from_wsgi(environ, config) is None
    # The same TLS certificate from a peer that is not a proxy is the client's own.
    verified = guard.authenticate(request(token, cert=cert_a.der, peer="10.0.0.2"))
    assert verified.subject == "auth0|user-1"
