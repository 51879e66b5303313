"""Nested JWE access tokens (Auth0 ``token_encryption``, format ``compact-nested-jwe``).

The presented token is a compact JWE (RFC 7516 §7.1: five base64url segments) whose
plaintext is the signed access token (RFC 7519 §5.2, §11.2: "nested JWT"). Auth0 encrypts
the content-encryption key with ``RSA-OAEP-256`` to the public key configured on the API
and the content with ``A256GCM``. This module:

1. parses the protected header strictly (RFC 7516 §5.2 steps 1-4) and refuses, before any
   RSA or AES work, anything but ``alg: RSA-OAEP-256`` / ``enc: A256GCM``, a ``zip``
   header (RFC 8725 §3.6: compression before encryption leaks the plaintext), a ``crit``
   header, key-carrying header parameters, and segments of impossible size;
2. picks the private key by ``kid`` (several keys may be configured, for rotation); a
   ``kid`` that names no key, or none, is refused before any RSA work when every key
   carries a configured kid;
3. decrypts with joserfc (the ``jwe`` extra, imported only when encryption is configured)
   and hands back the inner compact JWS, which is then verified like any other token.

Every failure is :class:`~rs_guard.errors.InvalidToken`; nothing else escapes.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from ._jose import JOSEError, b64url_decode, json_object
from .config import TokenEncryption
from .errors import ConfigError, InvalidToken

if TYPE_CHECKING:  # pragma: no cover
    from joserfc.jwe import JWERegistry
    from joserfc.jwk import RSAKey

__all__ = ["JWEDecryptor"]

ALG = "RSA-OAEP-256"
ENC = "A256GCM"
#: Header parameters refused outright: ``crit`` (RFC 7516 §4.1.13: nothing is understood
#: beyond RFC 7516), ``zip`` (RFC 8725 §3.6: compression before encryption leaks the
#: plaintext), key material or key URLs a sender could slip in (``jku``, ``jwk``, ``x5u``,
#: ``x5c``), and the parameters of other algorithms (ECDH-ES, PBES2, AES-GCM key wrap).
_REFUSED_HEADERS = (
    "crit",
    "zip",
    "jku",
    "jwk",
    "x5u",
    "x5c",
    "epk",
    "apu",
    "apv",
    "p2s",
    "p2c",
    "iv",
    "tag",
    "b64",
)
#: ``cty`` of a nested JWT (RFC 7519 §5.2) or an RFC 9068 access token.
_NESTED_TYPES = frozenset({"jwt", "at+jwt", "application/jwt", "application/at+jwt"})
#: Registered JWE names (RFC 7518 §4.1, §5.1) that a refusal may name: nothing else of
#: the header is ever repeated in an answer.
_REGISTERED_ALGS = frozenset(
    {"RSA1_5", "RSA-OAEP", "RSA-OAEP-256", "A128KW", "A192KW", "A256KW", "dir"}
    | {"ECDH-ES", "ECDH-ES+A128KW", "ECDH-ES+A192KW", "ECDH-ES+A256KW"}
    | {"A128GCMKW", "A192GCMKW", "A256GCMKW"}
    | {"PBES2-HS256+A128KW", "PBES2-HS384+A192KW", "PBES2-HS512+A256KW"}
)
_REGISTERED_ENCS = frozenset(
    {"A128CBC-HS256", "A192CBC-HS384", "A256CBC-HS512", "A128GCM", "A192GCM", "A256GCM"}
)
_IV_BYTES = 12  # A256GCM: 96-bit IV (RFC 7518 §5.3)
_TAG_BYTES = 16  # A256GCM: 128-bit tag (RFC 7518 §5.3)
_MAX_KEYS = 8
_SEGMENTS = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+){4}")


class _Key(NamedTuple):
    key: RSAKey
    ids: frozenset[str]
    modulus_bytes: int
    #: The key carries a configured kid (Auth0's ``encryption_key.kid``): a JWE for it
    #: names it, so a JWE that does not is never tried with it.
    named: bool


def _invalid(description: str, reason: str = "invalid_jwe") -> InvalidToken:
    return InvalidToken(description, reason=reason)


def _named(value: Any, registered: frozenset[str], otherwise: str) -> str:
    """``value`` if it is a registered name (a server-side constant), else ``otherwise``."""
    return value if isinstance(value, str) and value in registered else otherwise


class JWEDecryptor:
    """Decrypts the nested JWE access tokens of one API with its private key(s).

    Each key is known by its RFC 7638 thumbprint and, for the key whose public half is
    ``token_encryption.public_key_pem`` (or the first key when no public key is given),
    by the configured ``kid`` (Auth0's ``encryption_key.kid``). A JWE whose ``kid`` names
    one key is decrypted with that key only; a JWE without a ``kid``, or with a ``kid``
    no key is known by (an older key during rotation), is tried with each key that
    carries no configured kid (at most eight), and refused before any RSA operation when
    there is none. RSA-OAEP fails closed without telling which step failed.
    """

    def __init__(self, encryption: TokenEncryption, *, max_token_bytes: int) -> None:
        try:
            from joserfc.jwe import JWERegistry
            from joserfc.jwk import RSAKey
        except ImportError as exc:  # pragma: no cover - the jwe extra is installed in dev
            raise ConfigError(
                "token_encryption", "decrypting tokens needs joserfc: pip install 'rs_guard[jwe]'"
            ) from exc
        pems = encryption.decryption_keys
        if not pems:
            raise ConfigError(
                "token_encryption.decryption_keys",
                "the API encrypts its tokens; give rs_guard the private key "
                "(RS_GUARD_DECRYPTION_KEY, a PEM file)",
            )
        if len(pems) > _MAX_KEYS:
            raise ConfigError(
                "token_encryption.decryption_keys", f"at most {_MAX_KEYS} keys are supported"
            )
        public_thumbprint = None
        if encryption.public_key_pem:
            public_thumbprint = self._thumbprint_of_public(encryption.public_key_pem, RSAKey)
        keys: list[_Key] = []
        for index, pem in enumerate(pems):
            key = self._load_private(pem, index, RSAKey)
            thumbprint = key.thumbprint()
            ids = {thumbprint}
            names_configured_key = (
                public_thumbprint is not None and hmac.compare_digest(thumbprint, public_thumbprint)
            ) or (public_thumbprint is None and index == 0)
            named = bool(encryption.kid) and names_configured_key
            if named and encryption.kid:
                ids.add(encryption.kid)
            size = (int(key.raw_value.key_size) + 7) // 8
            keys.append(_Key(key, frozenset(ids), size, named))
        if public_thumbprint is not None and not any(public_thumbprint in k.ids for k in keys):
            raise ConfigError(
                "token_encryption.decryption_keys",
                "no decryption key is the private half of token_encryption.encryption_key.pem; "
                "Auth0 encrypts to that key, so no token could be decrypted",
            )
        self._keys = tuple(keys)
        self._sizes = frozenset(k.modulus_bytes for k in keys)
        # Unknown non-critical parameters are ignored (RFC 7516 §4), not refused.
        self._registry: JWERegistry = JWERegistry(algorithms=[ALG, ENC], strict_check_header=False)
        self.max_token_bytes = max_token_bytes

    @staticmethod
    def _load_private(pem: str, index: int, rsa_key: type[RSAKey]) -> RSAKey:
        field = f"token_encryption.decryption_keys[{index}]"
        try:
            key: RSAKey = rsa_key.import_key(pem)
        except Exception as exc:  # joserfc raises several types for unreadable PEM
            raise ConfigError(field, "is not an RSA private key in PEM form") from exc
        if not key.is_private:
            raise ConfigError(field, "is a public key; decryption needs the private key")
        if key.raw_value.key_size < 2048:
            raise ConfigError(field, "RSA keys shorter than 2048 bits are refused")
        return key

    @staticmethod
    def _thumbprint_of_public(pem: str, rsa_key: type[RSAKey]) -> str:
        try:
            if "CERTIFICATE" in pem:
                from cryptography import x509

                public: Any = x509.load_pem_x509_certificate(pem.encode()).public_key()
                return str(rsa_key.import_key(public).thumbprint())
            return str(rsa_key.import_key(pem).thumbprint())
        except Exception as exc:
            raise ConfigError(
                "token_encryption.encryption_key.pem", "is not an RSA public key or certificate"
            ) from exc

    # -- per token -----------------------------------------------------------------

    def decrypt(self, token: str) -> str:
        """The inner compact JWS of a nested JWE, or :class:`InvalidToken`."""
        header, encrypted_key_len = self.check(token)
        candidates = self._candidates(header.get("kid"))
        from joserfc.errors import JoseError
        from joserfc.jwe import decrypt_compact

        for key in candidates:
            if key.modulus_bytes != encrypted_key_len:
                continue
            try:
                result = decrypt_compact(token, key.key, registry=self._registry)
            except (JoseError, ValueError, TypeError, KeyError):
                continue
            plaintext = result.plaintext
            if plaintext is None:  # pragma: no cover - joserfc always sets it on success
                continue
            return self._inner(plaintext)
        raise _invalid("the encrypted token could not be decrypted", reason="decryption_failed")

    def check(self, token: str) -> tuple[dict[str, Any], int]:
        """Everything that can be refused before decryption: shape, header, sizes."""
        if not isinstance(token, str):
            raise _invalid("the access token is not text", reason="malformed")
        if len(token) > self.max_token_bytes:
            raise _invalid(
                f"the access token is larger than {self.max_token_bytes} bytes",
                reason="token_too_large",
            )
        if not _SEGMENTS.fullmatch(token):
            if token.count(".") == 2:
                # token_encryption is on: Auth0 encrypts every token of this API.
                raise _invalid(
                    "this API accepts encrypted (JWE) access tokens only", reason="not_encrypted"
                )
            raise _invalid("the encrypted token is not a compact JWE of five segments")
        protected, encrypted_key, iv, ciphertext, tag = token.split(".")
        try:
            header = json_object(b64url_decode(protected), "JWE header")
            sizes = [len(b64url_decode(s)) for s in (encrypted_key, iv, ciphertext, tag)]
        except JOSEError as exc:
            raise _invalid(f"the encrypted token is malformed: {exc}") from exc
        self._check_header(header)
        key_len, iv_len, ct_len, tag_len = sizes
        if key_len not in self._sizes:
            raise _invalid("the encrypted key does not fit this API's decryption keys")
        if iv_len != _IV_BYTES or tag_len != _TAG_BYTES:
            raise _invalid("the JWE initialization vector or tag has the wrong length for A256GCM")
        if ct_len == 0 or ct_len > self.max_token_bytes:
            raise _invalid("the JWE ciphertext is empty or too large", reason="token_too_large")
        return header, key_len

    @staticmethod
    def _check_header(header: dict[str, Any]) -> None:
        for name in _REFUSED_HEADERS:
            if name in header:
                raise _invalid(
                    f"the JWE header uses {name!r}, which is not accepted",
                    reason="unsupported_header",
                )
        # Any other parameter (x5t, a private one) is ignored, as RFC 7516 §4 says.
        alg, enc = header.get("alg"), header.get("enc")
        if alg != ALG or enc != ENC:
            raise _invalid(
                f"the token is encrypted with {_named(alg, _REGISTERED_ALGS, 'another alg')}/"
                f"{_named(enc, _REGISTERED_ENCS, 'another enc')}; "
                f"this API accepts {ALG}/{ENC} only",
                reason="wrong_algorithm",
            )
        # ``cty`` names the plaintext (RFC 7519 §5.2: "JWT" for a nested JWT); ``typ`` names
        # the whole object, whose value this API has no use for beyond being text.
        cty = header.get("cty")
        if cty is not None and (not isinstance(cty, str) or cty.lower() not in _NESTED_TYPES):
            raise _invalid("the JWE cty is not a nested access token type (JWT, at+jwt)")
        if "typ" in header and not isinstance(header["typ"], str):
            raise _invalid("the JWE typ is not a string")
        kid = header.get("kid")
        if kid is not None and (not isinstance(kid, str) or len(kid) > 256):
            raise _invalid("the JWE kid is not a short string")

    def _candidates(self, kid: str | None) -> Sequence[_Key]:
        """The keys worth an RSA operation for a JWE whose header names ``kid``.

        A key the ``kid`` names is the only candidate. Otherwise (no ``kid``, or one no key
        is known by) only the keys that carry no configured kid are tried: a JWE for a key
        that carries one would have named it. When every key carries a kid, such a JWE is
        refused here, before any RSA work (junk costs nothing per configured key).
        """
        if kid is not None:
            named = [k for k in self._keys if kid in k.ids]
            if named:
                return named
        unnamed = [k for k in self._keys if not k.named]
        if not unnamed:
            raise _invalid(
                "the encrypted token is not for a key this API holds (kid)", reason="unknown_kid"
            )
        return unnamed

    @staticmethod
    def _inner(plaintext: bytes) -> str:
        try:
            inner = plaintext.decode("ascii")
        except UnicodeDecodeError as exc:
            raise _invalid("the decrypted token is not a compact JWS") from exc
        if inner.count(".") != 2:
            # RFC 7519 §7.2 step 8 allows nesting further; Auth0 nests exactly one JWS.
            raise _invalid("the decrypted token is not a signed JWT (compact JWS)")
        return inner
