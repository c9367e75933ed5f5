"""The ``jwk`` authorization-details field (CDS format ``jwk_or_null``) and encryption to it.

A client may send an RFC 7517 public key with its grant so that data for it is delivered
encrypted. ``validate`` is the one check for that field: it accepts only public encryption keys
this module can actually encrypt to, so a grant never stores a key that fails later at
delivery, and never stores a private or symmetric key the client should not have sent.

Encryption is JWE compact serialization (RFC 7516) with one algorithm per key type, chosen
to be widely supported and free of known pitfalls (no RSA1_5, no key wrapping with AES-KW):

- ``kty: EC`` (P-256, P-384, P-521): key agreement ``ECDH-ES`` (RFC 7518 §4.6, direct);
- ``kty: RSA`` (modulus of 2048 bits or more): key transport ``RSA-OAEP-256``;
- content always ``A256GCM``; the body is served as ``application/jose``.

OKP keys (X25519) and other curves are refused to keep the set small and testable.
"""

import json
from typing import Any

from jwcrypto import jwe
from jwcrypto import jwk as jwcrypto_jwk

from cdsapi.text import has_control_characters, json_type

ALGORITHMS: dict[str, str] = {"EC": "ECDH-ES", "RSA": "RSA-OAEP-256"}
CONTENT_ENCRYPTION = "A256GCM"
CONTENT_TYPE = "application/jose"

CURVES = ("P-256", "P-384", "P-521")
MIN_RSA_BITS = 2048
MAX_SERIALISED = 4096
MAX_LABEL = 255
PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
ENCRYPTION_OPS = frozenset({"encrypt", "wrapKey", "deriveKey", "deriveBits"})
PUBLIC_MEMBERS = {"EC": ("crv", "x", "y"), "RSA": ("n", "e")}


class InvalidJwk(ValueError):
    """A ``jwk`` value refused by ``validate``; the message says what was wrong."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"jwk: {problem}")


def validate(value: object) -> dict | None:
    """The public key in ``value``, reduced to the members encryption needs, or ``None``.

    Raises ``InvalidJwk`` for anything that is not a public EC or RSA encryption key this
    module can encrypt to; jwcrypto's own errors are wrapped so callers handle one type."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidJwk(f"expected a JSON object, got {json_type(value)}")
    if any(not isinstance(name, str) for name in value):
        raise InvalidJwk("member names must be strings")
    try:
        size = len(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError, RecursionError) as error:
        raise InvalidJwk(f"is not JSON-serialisable ({error})") from None
    if size > MAX_SERIALISED:
        raise InvalidJwk(f"is {size} characters serialised; at most {MAX_SERIALISED} allowed")

    kty = value.get("kty")
    if kty == "oct":
        raise InvalidJwk("symmetric keys (kty 'oct') are refused; send a public EC or RSA key")
    if not isinstance(kty, str) or kty not in ALGORITHMS:
        raise InvalidJwk(f"unsupported kty {kty!r}; expected 'EC' or 'RSA'")
    for member in PRIVATE_MEMBERS:
        if member in value:
            raise InvalidJwk(f"is a private key (has {member!r}); send the public key only")
    if value.get("use") != "enc":
        raise InvalidJwk(f"expected use 'enc', got {value.get('use')!r}")
    _check_key_ops(value.get("key_ops"))
    normal: dict[str, str] = {"kty": kty, "use": "enc"}
    for member in PUBLIC_MEMBERS[kty]:
        if not isinstance(value.get(member), str):
            raise InvalidJwk(f"member {member!r} must be a string, got {value.get(member)!r}")
        normal[member] = value[member]
    for label in ("kid", "alg"):
        if label in value:
            normal[label] = _label(label, value[label])
    if "alg" in normal and normal["alg"] != ALGORITHMS[kty]:
        raise InvalidJwk(
            f"unsupported alg {normal['alg']!r} for kty {kty!r}; expected {ALGORITHMS[kty]!r}"
        )
    if kty == "EC" and normal["crv"] not in CURVES:
        raise InvalidJwk(f"unsupported curve {normal['crv']!r}; expected one of {CURVES}")
    _check_key_material(normal)
    return normal


def _check_key_ops(key_ops: object) -> None:
    """``key_ops`` is optional, but if given it must not grant anything beyond encryption."""
    if key_ops is None:
        return
    if not isinstance(key_ops, list) or not all(isinstance(op, str) for op in key_ops):
        raise InvalidJwk(f"key_ops must be a list of strings, got {key_ops!r}")
    if refused := sorted(set(key_ops) - ENCRYPTION_OPS):
        raise InvalidJwk(
            f"key_ops {refused} are not encryption operations; allowed: {sorted(ENCRYPTION_OPS)}"
        )


def _label(name: str, label: object) -> str:
    """``kid`` and ``alg`` are echoed into JWE headers, so they must be short, plain strings."""
    if not isinstance(label, str):
        raise InvalidJwk(f"{name} must be a string, got {type(label).__name__}")
    if not label or len(label) > MAX_LABEL or has_control_characters(label):
        raise InvalidJwk(f"{name} must be 1 to {MAX_LABEL} printable characters")
    return label


def _check_key_material(key: dict[str, str]) -> None:
    """Builds the actual public key: jwcrypto checks base64url encoding at import, and
    cryptography checks the EC point is on the curve when the key is first used. Any error
    there is this input's fault, whatever the library raises, so all are ``InvalidJwk``."""
    try:
        public = jwcrypto_jwk.JWK(**key).get_op_key("wrapKey")
    except Exception as error:
        raise InvalidJwk(f"is not a valid {key['kty']} public key ({error})") from None
    bits = getattr(public, "key_size", 0)
    if key["kty"] == "RSA" and bits < MIN_RSA_BITS:
        raise InvalidJwk(f"RSA modulus is {bits} bits; at least {MIN_RSA_BITS} required")


def encrypt(payload: bytes, key: dict) -> str:
    """``payload`` as a JWE compact serialization to ``key``, a result of ``validate``."""
    header: dict[str, Any] = {
        "alg": ALGORITHMS[key["kty"]],
        "enc": CONTENT_ENCRYPTION,
        "cty": "application/json",
    }
    if "kid" in key:
        header["kid"] = key["kid"]
    try:
        token = jwe.JWE(payload, protected=json.dumps(header))
        token.add_recipient(jwcrypto_jwk.JWK(**key))
        return token.serialize(compact=True)
    except Exception as error:
        raise InvalidJwk(f"cannot encrypt to this key ({error})") from None
