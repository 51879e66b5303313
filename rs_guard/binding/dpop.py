"""DPoP-bound access tokens (RFC 9449 §4.3, §7, §9).

A request with ``Authorization: DPoP <token>`` must carry exactly one ``DPoP`` header: a
JWT signed by the client's key, which is in its header. The checks of §4.3, in order:

1. one well-formed compact JWS, small enough; ``typ`` ``dpop+jwt``; no ``crit``;
2. ``alg`` one of the configured asymmetric algorithms; ``jwk`` a public key of a
   matching type (no private members) whose signature over the proof verifies;
3. ``htm`` equals the request method, ``htu`` the request URL (scheme, host, port and
   path after normalisation, :mod:`rs_guard.binding.htu`; the URL the guard sees honours
   ``public_url``);
4. with ``dpop.nonce``: ``nonce`` is a current server nonce (§9), else ``use_dpop_nonce``;
5. ``iat`` within ``[now - max_age, now + max_future]``; ``jti`` a bounded string;
6. ``ath`` = base64url(SHA-256(access token)), compared in constant time;
7. the RFC 7638 thumbprint of ``jwk`` is the token's ``cnf.jkt`` (§6.1, constant time).
   A proof that passed 1-6 but was made with another key is a failure of the token's
   binding: ``invalid_token``, as §7.1 shows; every earlier failure is
   ``invalid_dpop_proof``;
8. the proof is new: the guard remembers ``thumbprint + jti`` in the replay store until
   the proof could no longer pass step 5 (§11.1).

A DPoP-bound token sent with ``Bearer`` is refused (§7.2), as is an unbound token sent
with ``DPoP``; when the settings require a binding, a ``Bearer`` token is refused with
the error on the ``DPoP`` challenge.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import threading
from collections.abc import Callable, Mapping
from typing import Any

from jwt.algorithms import get_default_algorithms
from jwt.exceptions import InvalidKeyError, PyJWTError

from .._jose import JOSEError, b64url_encode, parse_compact_jws
from ..config import GuardConfig
from ..context import RequestContext
from ..errors import InvalidDPoPProof, InvalidToken, UseDPoPNonce
from ..extract import Credentials
from ..token import AccessToken
from . import ProofReplay
from ._policy import binding_required, check_members
from .htu import normalize_htu
from .nonce import NonceIssuer
from .thumbprint import access_token_hash, jwk_thumbprint

__all__ = ["DPoPBinding"]

MAX_PROOF_BYTES = 8 * 1024
MAX_JTI_LENGTH = 256
#: Larger RSA keys only make each verification slower; clients use 2048-4096 bits.
MAX_RSA_BITS = 8192
#: Members of a private (or symmetric) JWK; a proof carrying one is refused (§4.3 step 7).
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_KEY_TYPES: Mapping[str, tuple[str, frozenset[str]]] = {
    "RS256": ("RSA", frozenset()),
    "RS384": ("RSA", frozenset()),
    "RS512": ("RSA", frozenset()),
    "PS256": ("RSA", frozenset()),
    "PS384": ("RSA", frozenset()),
    "PS512": ("RSA", frozenset()),
    "ES256": ("EC", frozenset({"P-256"})),
    "ES384": ("EC", frozenset({"P-384"})),
    "ES512": ("EC", frozenset({"P-521"})),
    "EdDSA": ("OKP", frozenset({"Ed25519", "Ed448"})),
}
_ALGORITHMS = get_default_algorithms()
_KEY_CACHE_SIZE = 1024


def _proof_error(description: str, reason: str = "invalid_dpop_proof") -> InvalidDPoPProof:
    return InvalidDPoPProof(description, reason=reason)


class DPoPBinding:
    """Checks DPoP proofs against ``cnf.jkt`` (RFC 9449), one request at a time."""

    def __init__(self, config: GuardConfig, clock: Callable[[], float]) -> None:
        options = config.dpop
        self.config = config
        self.pop = config.proof_of_possession
        self.algorithms = frozenset(options.algorithms)
        self.max_age = float(options.max_age)
        self.max_future = float(options.max_future)
        self.nonces: NonceIssuer | None = None
        if options.nonce:
            secret = options.nonce_secret.encode() if options.nonce_secret else None
            self.nonces = NonceIssuer(secret, options.nonce_lifetime)
        # thumbprint -> public key object: the required members fix the key entirely.
        self._keys: dict[str, Any] = {}
        self._keys_lock = threading.Lock()

    # -- the request ------------------------------------------------------------

    def check(
        self, ctx: RequestContext, credentials: Credentials, token: AccessToken, now: float
    ) -> ProofReplay | None:
        cnf = token.cnf
        if credentials.scheme != "DPoP":
            if cnf is not None:
                check_members(cnf, "jkt", "DPoP")
                raise InvalidToken(
                    "the token is bound to a DPoP key and must be sent with the DPoP "
                    "scheme and a DPoP proof",
                    reason="dpop_token_as_bearer",
                )
            if binding_required(self.pop, token):
                exc = InvalidToken(
                    "this API accepts only DPoP-bound tokens: send the token with the "
                    "DPoP scheme and a DPoP proof",
                    reason="binding_required",
                )
                exc.scheme = "DPoP"
                raise exc
            return None
        if cnf is None:
            raise InvalidToken(
                "the DPoP scheme was used with a token that is not bound to a DPoP key",
                reason="unbound_dpop_token",
            )
        jkt = check_members(cnf, "jkt", "DPoP")
        return self.check_proof(ctx, token.raw, jkt, now)

    # -- the proof ---------------------------------------------------------------

    def check_proof(
        self, ctx: RequestContext, access_token: str, jkt: str, now: float
    ) -> ProofReplay:
        """Run every check of RFC 9449 §4.3 on the request's proof; return what to remember."""
        values = ctx.header_values("dpop")
        if not values:
            raise _proof_error("the request carries no DPoP proof header", "dpop_proof_missing")
        if len(values) > 1:
            raise _proof_error("the request carries more than one DPoP header")
        proof = values[0].strip()
        if len(proof) > MAX_PROOF_BYTES:
            raise _proof_error(f"the DPoP proof is larger than {MAX_PROOF_BYTES} bytes")
        try:
            jws = parse_compact_jws(proof)
        except JOSEError as exc:
            raise _proof_error(f"the DPoP proof is malformed: {exc}") from None
        header, claims = jws.header, jws.payload
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.lower() not in ("dpop+jwt", "application/dpop+jwt"):
            raise _proof_error("the DPoP proof's typ is not dpop+jwt")
        if "crit" in header:
            raise _proof_error("the DPoP proof has critical header parameters")
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise _proof_error(
                "the DPoP proof's alg is not one of " + ", ".join(sorted(self.algorithms))
            )
        jwk: Any = header.get("jwk")
        thumbprint = self._thumbprint(jwk, alg)
        key = self._public_key(thumbprint, jwk, alg)
        try:
            valid = _ALGORITHMS[alg].verify(jws.signing_input, key, jws.signature)
        except (PyJWTError, ValueError, TypeError):
            valid = False
        if not valid:
            raise _proof_error("the DPoP proof's signature does not verify", "dpop_bad_signature")
        self._check_request(ctx, claims)
        if self.nonces is not None and not self.nonces.is_valid(claims.get("nonce"), now):
            reason = "dpop_nonce_missing" if "nonce" not in claims else "dpop_nonce_stale"
            raise UseDPoPNonce(
                "the DPoP proof must carry the server's current nonce (DPoP-Nonce)",
                nonce=self.nonces.current(now),
                reason=reason,
            )
        iat = self._check_time(claims, now)
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_LENGTH:
            raise _proof_error(f"the DPoP proof's jti is missing or longer than {MAX_JTI_LENGTH}")
        ath = claims.get("ath")
        if not isinstance(ath, str) or not hmac.compare_digest(
            ath.encode("utf-8", "replace"), access_token_hash(access_token).encode()
        ):
            raise _proof_error("the DPoP proof's ath does not match the access token")
        if not hmac.compare_digest(thumbprint.encode(), jkt.encode()):
            # §4.3 step 12 and §7.1: a valid proof made with another key than the token's
            # cnf.jkt is a failure of the token's binding (invalid_token), not of the proof.
            mismatch = InvalidToken(
                "the DPoP proof key does not match the token's binding", reason="dpop_key_mismatch"
            )
            mismatch.scheme = "DPoP"
            raise mismatch
        replay_key = b64url_encode(
            hashlib.sha256(f"{thumbprint}\x00{jti}".encode("utf-8", "replace")).digest()
        )
        return ProofReplay(replay_key, max(iat + self.max_age, now) + 1.0)

    @staticmethod
    def _thumbprint(jwk: Any, alg: str) -> str:
        """The RFC 7638 thumbprint of the proof's ``jwk``, a public key of a type for ``alg``."""
        if not isinstance(jwk, dict):
            raise _proof_error("the DPoP proof's header has no jwk")
        if PRIVATE_MEMBERS.intersection(jwk):
            raise _proof_error("the DPoP proof's jwk contains private key material")
        kty, curves = _KEY_TYPES.get(alg, ("", frozenset()))
        if jwk.get("kty") != kty or (curves and jwk.get("crv") not in curves):
            raise _proof_error(f"the DPoP proof's jwk is not a key for {alg}")
        try:
            return jwk_thumbprint(jwk)
        except ValueError as exc:
            raise _proof_error(f"the DPoP proof's jwk is invalid: {exc}") from None

    def _public_key(self, thumbprint: str, jwk: dict[str, Any], alg: str) -> Any:
        """The key object of ``jwk``, cached by thumbprint (the members it covers fix the key)."""
        key = self._keys.get(thumbprint)
        if key is not None:
            return key
        public: dict[str, Any] = {
            name: jwk[name] for name in ("kty", "crv", "x", "y", "n", "e") if name in jwk
        }
        try:
            key = _ALGORITHMS[alg].from_jwk(public)
        except (InvalidKeyError, PyJWTError, ValueError, TypeError, KeyError):
            raise _proof_error("the DPoP proof's jwk is not a valid public key") from None
        if public["kty"] == "RSA" and not 2048 <= getattr(key, "key_size", 0) <= MAX_RSA_BITS:
            raise _proof_error(f"the DPoP proof's RSA key is not of 2048 to {MAX_RSA_BITS} bits")
        with self._keys_lock:
            if len(self._keys) >= _KEY_CACHE_SIZE:
                self._keys.clear()
            self._keys[thumbprint] = key
        return key

    @staticmethod
    def _check_request(ctx: RequestContext, claims: Mapping[str, Any]) -> None:
        """``htm`` and ``htu`` against the request (§4.3 steps 8-9)."""
        if claims.get("htm") != ctx.method:
            raise _proof_error("the DPoP proof's htm does not match the request method")
        htu = claims.get("htu")
        given = normalize_htu(htu) if isinstance(htu, str) else None
        if given is None or given != normalize_htu(ctx.url):
            raise _proof_error("the DPoP proof's htu does not match the request URL")

    def _check_time(self, claims: Mapping[str, Any], now: float) -> float:
        """``iat`` within the window (§4.3 step 11, §11.1)."""
        value = claims.get("iat")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _proof_error("the DPoP proof's iat is missing or not a number")
        try:
            iat = float(value)
        except OverflowError:  # an integer of hundreds of digits
            iat = math.inf
        if not math.isfinite(iat):
            raise _proof_error("the DPoP proof's iat is missing or not a number")
        if iat < now - self.max_age:
            raise _proof_error("the DPoP proof is too old (iat)", "dpop_proof_expired")
        if iat > now + self.max_future:
            raise _proof_error("the DPoP proof is issued in the future (iat)", "dpop_proof_future")
        return iat
