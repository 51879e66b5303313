"""Where adapters get the client certificate: ASGI tls extension, WSGI environ, proxy header."""

from __future__ import annotations

from typing import Any

import pytest

from rs_guard.binding.certs import (
    CertHeaderError,
    client_cert_from_asgi,
    client_cert_from_wsgi,
    parse_cert_header,
    peer_is_trusted,
)
from rs_guard.testing import TokenIssuer
from rs_guard.testing.pop import IssuedCert


def asgi_scope(peer: str | None, headers: list[tuple[str, str]], tls: Any = None) -> dict[str, Any]:
    scope: dict[str, Any] = {
        "type": "http",
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers],
        "client": (peer, 50000) if peer else None,
    }
    if tls is not None:
        scope["extensions"] = {"tls": tls}
    return scope


def test_asgi_tls_extension(issuer: TokenIssuer, cert_a: IssuedCert) -> None:
    config = issuer.config()
    scope = asgi_scope("203.0.113.1", [], {"client_cert_chain": [cert_a.cert_pem.decode()]})
    assert client_cert_from_asgi(scope, config) == cert_a.der
    assert client_cert_from_asgi(asgi_scope("203.0.113.1", []), config) is None
    broken = asgi_scope("203.0.113.1", [], {"client_cert_chain": ["not a pem"]})
    assert client_cert_from_asgi(broken, config) is None


@pytest.mark.parametrize("form", ["rfc9440", "escaped", "xfcc"])
def test_asgi_trusted_header(issuer: TokenIssuer, cert_a: IssuedCert, form: str) -> None:
    name = {"rfc9440": "Client-Cert", "escaped": "X-Client-Cert", "xfcc": "X-Forwarded-Client-Cert"}
    value = {"rfc9440": cert_a.rfc9440, "escaped": cert_a.escaped, "xfcc": cert_a.xfcc()}
    config = issuer.config(client_cert_header=name[form], trusted_proxies=("10.0.0.0/8",))
    trusted = asgi_scope("10.9.8.7", [(name[form], value[form])])
    assert client_cert_from_asgi(trusted, config) == cert_a.der
    untrusted = asgi_scope("192.0.2.1", [(name[form], value[form])])
    assert client_cert_from_asgi(untrusted, config) is None


def test_asgi_header_beats_tls_layer_only_when_trusted(
    issuer: TokenIssuer, cert_a: IssuedCert, cert_b: IssuedCert
) -> None:
    config = issuer.config(client_cert_header="Client-Cert")
    tls = {"client_cert_chain": [cert_b.cert_pem.decode()]}
    assert (
        client_cert_from_asgi(
            asgi_scope("127.0.0.1", [("Client-Cert", cert_a.rfc9440)], tls), config
        )
        == cert_a.der
    )
    assert (
        client_cert_from_asgi(
            asgi_scope("198.51.100.1", [("Client-Cert", cert_a.rfc9440)], tls), config
        )
        == cert_b.der
    )


def test_asgi_malformed_header_gives_none_never_raises(issuer: TokenIssuer) -> None:
    config = issuer.config(client_cert_header="Client-Cert")
    for value in (":!!:", "garbage", ""):
        assert (
            client_cert_from_asgi(asgi_scope("127.0.0.1", [("Client-Cert", value)]), config) is None
        )


def test_wsgi_sources(issuer: TokenIssuer, cert_a: IssuedCert, cert_b: IssuedCert) -> None:
    plain = issuer.config()
    environ = {"REMOTE_ADDR": "198.51.100.4", "SSL_CLIENT_CERT": cert_a.cert_pem.decode()}
    assert client_cert_from_wsgi(environ, plain) == cert_a.der
    assert client_cert_from_wsgi({"SSL_CLIENT_CERT": "  "}, plain) is None
    proxied = issuer.config(client_cert_header="X-SSL-Client-Cert", trusted_proxies=("127.0.0.2",))
    environ = {"REMOTE_ADDR": "127.0.0.2", "HTTP_X_SSL_CLIENT_CERT": cert_b.escaped}
    assert client_cert_from_wsgi(environ, proxied) == cert_b.der
    environ["REMOTE_ADDR"] = "127.0.0.1"
    assert client_cert_from_wsgi(environ, proxied) is None
    environ["SSL_CLIENT_CERT"] = cert_a.cert_pem.decode()
    assert client_cert_from_wsgi(environ, proxied) == cert_a.der


def test_peer_is_trusted_networks(issuer: TokenIssuer) -> None:
    config = issuer.config(trusted_proxies=("192.168.0.0/16", "2001:db8::/32"))
    assert peer_is_trusted("192.168.44.1", config)
    assert peer_is_trusted("2001:db8::7", config)
    assert not peer_is_trusted("192.169.0.1", config)
    assert not peer_is_trusted("", config)
    assert not peer_is_trusted(None, config)
    assert not peer_is_trusted("not-an-ip", config)


def test_parse_plain_pem_and_bare_base64(cert_a: IssuedCert) -> None:
    import base64

    assert parse_cert_header("X-Cert", cert_a.cert_pem.decode()).der == cert_a.der
    assert parse_cert_header("X-Cert", base64.b64encode(cert_a.der).decode()).der == cert_a.der
    with pytest.raises(CertHeaderError):
        parse_cert_header("X-Cert", base64.b64encode(b"not der").decode())


def test_xfcc_hash_must_agree_with_its_cert(cert_a: IssuedCert, cert_b: IssuedCert) -> None:
    name = "X-Forwarded-Client-Cert"
    both = parse_cert_header(name, cert_a.xfcc(hash=True))
    assert both.der == cert_a.der
    only_hash = parse_cert_header(name, cert_a.xfcc(cert=False, hash=True))
    assert only_hash.der is None
    assert only_hash.sha256 == both.sha256
    # A Hash of certificate B beside the Cert of certificate A: the proxy's header lies.
    mixed = cert_b.xfcc(cert=False, hash=True) + ";" + cert_a.xfcc()
    with pytest.raises(CertHeaderError, match="does not match"):
        parse_cert_header(name, mixed)


def test_one_header_value_holds_one_certificate(
    issuer: TokenIssuer, cert_a: IssuedCert, cert_b: IssuedCert
) -> None:
    """A repeated header joined by a WSGI server (gunicorn: ``a,b``) is not read as ``a``."""
    pem_pair = cert_a.cert_pem.decode() + cert_b.cert_pem.decode()
    for value in (
        f"{cert_a.escaped},{cert_b.escaped}",
        f"{cert_a.rfc9440}, {cert_a.rfc9440}",
        pem_pair,
    ):
        with pytest.raises(CertHeaderError, match="more than one certificate"):
            parse_cert_header("X-Client-Cert", value)
    config = issuer.config(client_cert_header="X-Client-Cert")
    joined = f"{cert_a.escaped},{cert_b.escaped}"
    environ = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_CLIENT_CERT": joined}
    assert client_cert_from_wsgi(environ, config) is None
    assert (
        client_cert_from_asgi(asgi_scope("127.0.0.1", [("X-Client-Cert", joined)]), config) is None
    )
