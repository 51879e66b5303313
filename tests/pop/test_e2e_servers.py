"""End to end: nginx terminating mTLS in front of the example apps under real servers.

* mTLS (RFC 8705): nginx (``ssl_verify_client``, a CA made here) forwards
  ``$ssl_client_escaped_cert`` in ``X-SSL-Client-Cert`` to ``examples/fastapi_app.py``
  under uvicorn, ``examples/flask_app.py`` and ``examples/django_app.py`` under gunicorn,
  connecting from 127.0.0.2, the only trusted proxy. A token bound to certificate A
  passes with A, fails with B and with none; the header sent straight to the app (from
  127.0.0.1) is not believed.
* DPoP (RFC 9449): the same apps, DPoP-configured with server nonces, over plain HTTP;
  gunicorn runs two workers sharing a real Redis replay store and a nonce secret, so a
  nonce from one worker is good at the other and a replayed proof is refused by any.
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from rs_guard.testing import JWKSServer, TokenIssuer
from rs_guard.testing.pop import CertificateAuthority, DPoPKey, IssuedCert

from ._support import free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
CERT_HEADER = "X-SSL-Client-Cert"
PROXY_ADDRESS = "127.0.0.2"
APPS = ("fastapi-uvicorn", "flask-gunicorn", "django-gunicorn")


@dataclass
class Stack:
    tmp: Path
    issuer: TokenIssuer
    ca: CertificateAuthority
    cert_a: IssuedCert
    cert_b: IssuedCert
    processes: list[tuple[str, subprocess.Popen[bytes], Path]] = field(default_factory=list)
    app_ports: dict[str, int] = field(default_factory=dict)
    nginx_ports: dict[tuple[str, str], int] = field(default_factory=dict)

    def client(self, cert: IssuedCert | None) -> httpx.Client:
        context = ssl.create_default_context(cafile=str(self.tmp / "ca.pem"))
        if cert is not None:
            cert_path, key_path = cert.write(self.tmp, f"client-{cert.thumbprint[:8]}")
            context.load_cert_chain(str(cert_path), str(key_path))
        return httpx.Client(verify=context, timeout=10)


_WSGI_TARGETS = {
    "flask-gunicorn": "examples.flask_app:app",
    "django-gunicorn": "examples.django_app:application",
}


def _server_command(app: str, port: int, workers: int = 1) -> list[str]:
    if app == "fastapi-uvicorn":
        return [
            sys.executable, "-m", "uvicorn", "examples.fastapi_app:app",
            "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
            # uvicorn rewrites the peer from X-Forwarded-For sent by these addresses only
            "--forwarded-allow-ips", PROXY_ADDRESS,
        ]  # fmt: skip
    return [
        sys.executable, "-m", "gunicorn", _WSGI_TARGETS[app],
        "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--threads", "4",
        "--log-level", "warning", "--graceful-timeout", "2",
    ]  # fmt: skip


def _start(stack: Stack, name: str, command: list[str], env: dict[str, str]) -> None:
    log = stack.tmp / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    stack.processes.append((name, proc, log))


def _wait_http(stack: Stack, url: str, name: str, client: httpx.Client | None = None) -> None:
    deadline = time.monotonic() + 40
    http = client or httpx.Client(timeout=2)
    try:
        while time.monotonic() < deadline:
            for proc_name, proc, log in stack.processes:
                if proc.poll() is not None:
                    pytest.fail(f"{proc_name} exited:\n{log.read_text()[-3000:]}")
            try:
                http.get(url)
                return
            except httpx.TransportError:
                time.sleep(0.1)
    finally:
        if client is None:
            http.close()
    pytest.fail(f"{name} did not answer at {url}")


def _app_env(stack: Stack, jwks_uri: str, settings: dict[str, Any], **env: str) -> dict[str, str]:
    config_path = stack.tmp / f"resource-server-{len(list(stack.tmp.glob('*.json')))}.json"
    config_path.write_text(json.dumps({"identifier": stack.issuer.audience, **settings}))
    out = {k: v for k, v in os.environ.items() if not k.startswith("RS_GUARD_")}
    out.update(
        RS_GUARD_CONFIG=str(config_path),
        RS_GUARD_ISSUER=stack.issuer.issuer,
        RS_GUARD_JWKS_URI=jwks_uri,
        PYTHONPATH=str(ROOT),
        **env,
    )
    return out


def _nginx_conf(stack: Stack) -> str:
    servers = []
    for (app, verify), port in stack.nginx_ports.items():
        servers.append(f"""
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {stack.tmp}/server.pem;
        ssl_certificate_key {stack.tmp}/server.key;
        ssl_client_certificate {stack.tmp}/ca.pem;
        ssl_verify_client {verify};
        location / {{
            proxy_pass http://127.0.0.1:{stack.app_ports["mtls-" + app]};
            proxy_bind {PROXY_ADDRESS};
            proxy_set_header {CERT_HEADER} $ssl_client_escaped_cert;
        }}
    }}""")
    temp = stack.tmp / "nginx"
    user = "user root;" if os.geteuid() == 0 else ""
    return f"""
{user}
worker_processes 1;
daemon off;
pid {temp}/nginx.pid;
error_log {temp}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
{"".join(servers)}
}}
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Stack]:
    if NGINX is None:
        pytest.skip("nginx is not installed (scripts/setup --system installs it)")
    tmp = tmp_path_factory.mktemp("e2e")
    ca = CertificateAuthority()
    stack = Stack(tmp, TokenIssuer(), ca, ca.client_cert("a"), ca.client_cert("b"))
    (tmp / "ca.pem").write_bytes(ca.cert_pem)
    ca.server_cert("127.0.0.1", "localhost").write(tmp, "server")
    (tmp / "nginx").mkdir()
    with JWKSServer(stack.issuer.jwks) as jwks:
        try:
            for app in APPS:
                stack.app_ports["mtls-" + app] = free_port()
                env = _app_env(
                    stack,
                    jwks.jwks_uri,
                    {"proof_of_possession": {"mechanism": "mtls", "required": True}},
                    RS_GUARD_CLIENT_CERT_HEADER=CERT_HEADER,
                    RS_GUARD_TRUSTED_PROXIES=PROXY_ADDRESS,
                )
                _start(
                    stack, "mtls-" + app, _server_command(app, stack.app_ports["mtls-" + app]), env
                )
                stack.app_ports["dpop-" + app] = free_port()
                env = _app_env(
                    stack,
                    jwks.jwks_uri,
                    {"proof_of_possession": {"mechanism": "dpop", "required": False}},
                    RS_GUARD_REPLAY_STORE=redis_url,
                    RS_GUARD_DPOP_NONCE="true",
                    RS_GUARD_DPOP_NONCE_SECRET="e2e nonce secret shared by workers",
                )
                command = _server_command(app, stack.app_ports["dpop-" + app], workers=2)
                _start(stack, "dpop-" + app, command, env)
                for verify in ("on", "optional"):
                    stack.nginx_ports[(app, verify)] = free_port()
            (tmp / "nginx.conf").write_text(_nginx_conf(stack))
            prefix = tmp / "nginx"
            command = [NGINX, "-c", str(tmp / "nginx.conf"), "-p", str(prefix)]
            _start(stack, "nginx", [*command, "-e", str(prefix / "error.log")], dict(os.environ))
            for name, port in stack.app_ports.items():
                _wait_http(stack, f"http://127.0.0.1:{port}/health", name)
            with stack.client(stack.cert_a) as client:
                for port in stack.nginx_ports.values():
                    _wait_http(stack, f"https://127.0.0.1:{port}/health", "nginx", client)
            yield stack
        finally:
            for _, proc, _ in reversed(stack.processes):
                proc.terminate()
            for _, proc, _ in stack.processes:
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def _via_nginx(stack: Stack, app: str, verify: str = "on") -> str:
    return f"https://127.0.0.1:{stack.nginx_ports[(app, verify)]}"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("app", APPS)
class TestMutualTLSBehindNginx:
    def test_bound_token_with_its_certificate(self, stack: Stack, app: str) -> None:
        token = stack.issuer.mint(cnf=stack.cert_a.cnf)
        with stack.client(stack.cert_a) as client:
            answer = client.get(_via_nginx(stack, app) + "/me", headers=_bearer(token))
        assert answer.status_code == 200, answer.text
        assert answer.json()["cnf"] == stack.cert_a.cnf

    def test_bound_token_with_another_certificate(self, stack: Stack, app: str) -> None:
        token = stack.issuer.mint(cnf=stack.cert_a.cnf)
        with stack.client(stack.cert_b) as client:
            answer = client.get(_via_nginx(stack, app) + "/me", headers=_bearer(token))
            # a forged header does not survive nginx: proxy_set_header replaces it
            forged = {**_bearer(token), CERT_HEADER: stack.cert_a.escaped}
            again = client.get(_via_nginx(stack, app) + "/me", headers=forged)
        for reply in (answer, again):
            assert reply.status_code == 401
            assert reply.json()["error"] == "invalid_token"
            assert reply.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
            assert "not the one the token is bound to" in reply.json()["error_description"]

    def test_no_certificate(self, stack: Stack, app: str) -> None:
        token = stack.issuer.mint(cnf=stack.cert_a.cnf)
        with stack.client(None) as client:
            # ssl_verify_client on: nginx itself refuses the request
            refused = client.get(_via_nginx(stack, app) + "/me", headers=_bearer(token))
            assert refused.status_code == 400
            # ssl_verify_client optional: the request reaches the app without a certificate
            url = _via_nginx(stack, app, "optional") + "/me"
            answer = client.get(url, headers=_bearer(token))
            forged = client.get(url, headers={**_bearer(token), CERT_HEADER: stack.cert_a.escaped})
        for reply in (answer, forged):
            assert reply.status_code == 401
            assert reply.json()["error"] == "invalid_token"
            assert "presented none" in reply.json()["error_description"]

    def test_unbound_token_refused_when_required(self, stack: Stack, app: str) -> None:
        with stack.client(stack.cert_a) as client:
            answer = client.get(
                _via_nginx(stack, app) + "/me", headers=_bearer(stack.issuer.mint())
            )
        assert answer.status_code == 401
        assert "certificate-bound" in answer.json()["error_description"]

    def test_header_sent_around_nginx_is_not_trusted(self, stack: Stack, app: str) -> None:
        token = stack.issuer.mint(cnf=stack.cert_a.cnf)
        direct = f"http://127.0.0.1:{stack.app_ports['mtls-' + app]}/me"
        headers = {
            **_bearer(token),
            CERT_HEADER: stack.cert_a.escaped,
            "X-Forwarded-For": PROXY_ADDRESS,
        }
        answer = httpx.get(direct, headers=headers, timeout=10)
        assert answer.status_code == 401
        assert "presented none" in answer.json()["error_description"]

    def test_a_repeated_certificate_header_is_refused(self, stack: Stack, app: str) -> None:
        """From the trusted proxy, two header lines: gunicorn joins them with a comma,
        uvicorn passes both; neither server's app takes the first certificate."""
        token = stack.issuer.mint(cnf=stack.cert_a.cnf)
        headers = [
            ("Authorization", f"Bearer {token}"),
            (CERT_HEADER, stack.cert_a.escaped),
            (CERT_HEADER, stack.cert_b.escaped),
        ]
        transport = httpx.HTTPTransport(local_address=PROXY_ADDRESS)
        with httpx.Client(transport=transport, timeout=10) as client:
            answer = client.get(
                f"http://127.0.0.1:{stack.app_ports['mtls-' + app]}/me", headers=headers
            )
        assert answer.status_code == 401, answer.text
        joined = (  # gunicorn: one value with a comma; uvicorn: two header lines
            f"the client certificate forwarded in {CERT_HEADER} cannot be read: "
            "it holds more than one certificate"
        )
        repeated = f"the proxy forwarded more than one {CERT_HEADER} header"
        assert answer.json() == {
            "error": "invalid_token",
            "error_description": joined if app.endswith("-gunicorn") else repeated,
        }
        assert answer.headers["www-authenticate"].startswith('Bearer error="invalid_token"')


@pytest.mark.parametrize("app", APPS)
class TestDPoPUnderServers:
    """Two workers (gunicorn) or one (uvicorn), Redis replay store, server nonces."""

    def _url(self, stack: Stack, app: str) -> str:
        return f"http://127.0.0.1:{stack.app_ports['dpop-' + app]}/me"

    def _nonce(self, url: str, key: DPoPKey, token: str) -> str:
        proof = key.proof("GET", url, access_token=token)
        answer = httpx.get(url, headers={"Authorization": f"DPoP {token}", "DPoP": proof})
        assert answer.status_code == 401
        assert answer.json()["error"] == "use_dpop_nonce"
        assert 'DPoP error="use_dpop_nonce"' in answer.headers["www-authenticate"]
        return answer.headers["dpop-nonce"]

    def _get(self, url: str, key: DPoPKey, token: str, proof: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"DPoP {token}", "Connection": "close"}
        headers["DPoP"] = proof or key.proof("GET", url, access_token=token)
        return httpx.get(url, headers=headers, timeout=10)

    def test_nonce_then_proofs_accepted_by_every_worker(self, stack: Stack, app: str) -> None:
        key = DPoPKey()
        token = stack.issuer.mint(cnf=key.cnf)
        url = self._url(stack, app)
        nonce = self._nonce(url, key, token)
        for _ in range(6):  # new connections: both gunicorn workers get some
            proof = key.proof("GET", url, access_token=token, nonce=nonce)
            answer = self._get(url, key, token, proof)
            assert answer.status_code == 200, answer.text
            assert answer.json()["cnf"] == key.cnf

    def test_replay_refused_by_every_worker(self, stack: Stack, app: str) -> None:
        key = DPoPKey()
        token = stack.issuer.mint(cnf=key.cnf)
        url = self._url(stack, app)
        proof = key.proof("GET", url, access_token=token, nonce=self._nonce(url, key, token))
        assert self._get(url, key, token, proof).status_code == 200
        for _ in range(6):
            again = self._get(url, key, token, proof)
            assert again.status_code == 401
            assert again.json()["error"] == "invalid_dpop_proof"
            assert "already used" in again.json()["error_description"]
            assert 'DPoP error="invalid_dpop_proof"' in again.headers["www-authenticate"]
            assert "algs=" in again.headers["www-authenticate"]

    def test_proof_checks_reach_the_app(self, stack: Stack, app: str) -> None:
        key, thief = DPoPKey(), DPoPKey()
        token = stack.issuer.mint(cnf=key.cnf)
        url = self._url(stack, app)
        nonce = self._nonce(url, key, token)
        cases = {
            "htm": key.proof("POST", url, access_token=token, nonce=nonce),
            "htu": key.proof("GET", url + "x", access_token=token, nonce=nonce),
            "ath": key.proof("GET", url, access_token=token + "x", nonce=nonce),
            "the token's binding": thief.proof("GET", url, access_token=token, nonce=nonce),
        }
        for words, proof in cases.items():
            answer = self._get(url, key, token, proof)
            assert answer.status_code == 401, words
            assert words in answer.json()["error_description"]

    def test_bound_token_as_bearer_and_bearer_beside_dpop(self, stack: Stack, app: str) -> None:
        key = DPoPKey()
        url = self._url(stack, app)
        answer = httpx.get(url, headers=_bearer(stack.issuer.mint(cnf=key.cnf)))
        assert answer.status_code == 401
        assert answer.json()["error"] == "invalid_token"
        plain = httpx.get(url, headers=_bearer(stack.issuer.mint()))
        assert plain.status_code == 200
        missing = httpx.get(url)
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"].startswith('Bearer realm="api", DPoP algs=')
