"""The ``jwk`` grant field: which keys are accepted, why others are refused, and that data
encrypted to an accepted key comes back intact with the matching private key."""

import json

import pytest
from jwcrypto import jwe
from jwcrypto import jwk as jwcrypto_jwk

from cdsapi.grants import jwk

PAYLOAD = json.dumps({"usage": [{"value": "12.5", "unit": "kWh"}]}).encode()


def key_pair(**params: object) -> tuple[jwcrypto_jwk.JWK, dict]:
    """A generated private key and its public half as a client would send it."""
    private = jwcrypto_jwk.JWK.generate(**params)
    return private, {**json.loads(private.export_public()), "use": "enc"}


def decrypt(token: str, private: jwcrypto_jwk.JWK) -> tuple[dict, bytes]:
    received = jwe.JWE()
    received.deserialize(token, key=private)
    return json.loads(received.objects["protected"]), received.payload


def refused(value: object, *words: str) -> None:
    with pytest.raises(jwk.InvalidJwk) as caught:
        jwk.validate(value)
    for word in words:
        assert word in str(caught.value)


@pytest.fixture(scope="module")
def ec() -> tuple[jwcrypto_jwk.JWK, dict]:
    return key_pair(kty="EC", crv="P-256")


@pytest.fixture(scope="module")
def rsa() -> tuple[jwcrypto_jwk.JWK, dict]:
    return key_pair(kty="RSA", size=2048)


def test_none_means_no_key() -> None:
    assert jwk.validate(None) is None


def test_ec_p256_key_round_trips_the_exact_payload(ec: tuple) -> None:
    private, public = ec
    key = jwk.validate({**public, "kid": "client-1", "x5t": "ignored"})
    assert key == {**public, "kid": "client-1"}
    token = jwk.encrypt(PAYLOAD, key)
    assert token.count(".") == 4
    header, payload = decrypt(token, private)
    assert payload == PAYLOAD
    assert header["alg"] == "ECDH-ES" and header["enc"] == "A256GCM"
    assert header["cty"] == "application/json" and header["kid"] == "client-1"


@pytest.mark.parametrize("crv", ["P-384", "P-521"])
def test_other_nist_curves_round_trip(crv: str) -> None:
    private, public = key_pair(kty="EC", crv=crv)
    assert decrypt(jwk.encrypt(PAYLOAD, jwk.validate(public)), private)[1] == PAYLOAD


def test_rsa_2048_key_round_trips_the_exact_payload(rsa: tuple) -> None:
    private, public = rsa
    key = jwk.validate({**public, "alg": "RSA-OAEP-256", "key_ops": ["wrapKey", "encrypt"]})
    assert set(key) == {"kty", "n", "e", "use", "alg"}
    header, payload = decrypt(jwk.encrypt(PAYLOAD, key), private)
    assert payload == PAYLOAD
    assert header == {"alg": "RSA-OAEP-256", "enc": "A256GCM", "cty": "application/json"}


def test_private_ec_key_is_refused(ec: tuple) -> None:
    private, _ = ec
    refused({**json.loads(private.export_private()), "use": "enc"}, "private key", "'d'")


def test_private_rsa_key_is_refused(rsa: tuple) -> None:
    private, _ = rsa
    refused({**json.loads(private.export_private()), "use": "enc"}, "private key")


def test_signing_key_is_refused(ec: tuple) -> None:
    refused({**ec[1], "use": "sig"}, "expected use 'enc', got 'sig'")


def test_key_without_use_is_refused(ec: tuple) -> None:
    refused({k: v for k, v in ec[1].items() if k != "use"}, "expected use 'enc', got None")


def test_symmetric_key_is_refused() -> None:
    refused({"kty": "oct", "k": "c2VjcmV0", "use": "enc"}, "symmetric", "'oct'")


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"kty": "EC", "crv": "secp256k1"}, ("unsupported curve", "secp256k1")),
        ({"kty": "OKP", "crv": "X25519"}, ("unsupported kty", "OKP")),
    ],
)
def test_unsupported_curve_is_refused(params: dict, words: tuple[str, ...]) -> None:
    refused(key_pair(**params)[1], *words)


def test_point_not_on_the_curve_is_refused(ec: tuple) -> None:
    refused({**ec[1], "y": ec[1]["x"]}, "not a valid EC public key", "not on the curve")


def test_badly_encoded_coordinate_is_refused(ec: tuple) -> None:
    refused({**ec[1], "x": "not base64!"}, "not a valid EC public key")


def test_rsa_1024_is_refused() -> None:
    refused(key_pair(kty="RSA", size=1024)[1], "1024 bits", "at least 2048")


@pytest.mark.parametrize(
    ("value", "kind"),
    [("{}", "a string"), ([{"kty": "EC"}], "an array"), (42, "a number"), (1.5, "a number")],
)
def test_non_object_is_refused(value: object, kind: str) -> None:
    refused(value, "expected a JSON object", kind)


def test_non_string_member_is_refused(ec: tuple) -> None:
    refused({**ec[1], "x": 12345}, "'x' must be a string")
    refused({**ec[1], 1: "one"}, "member names must be strings")
    refused({**ec[1], "kid": 7}, "kid must be a string")
    refused({**ec[1], "kty": ["EC"]}, "unsupported kty ['EC']")


def test_overlong_kid_is_refused(ec: tuple) -> None:
    refused({**ec[1], "kid": "k" * 256}, "kid must be 1 to 255")


def test_non_json_member_is_refused(ec: tuple) -> None:
    refused({**ec[1], "x5u": object()}, "not JSON-serialisable")
    refused({**ec[1], "x5u": float("nan")}, "not JSON-serialisable")


def test_oversized_object_is_refused(ec: tuple) -> None:
    refused({**ec[1], "x5c": ["A" * 5000]}, "at most 4096")


@pytest.mark.parametrize(
    ("key_ops", "words"),
    [
        (["encrypt", "sign"], ("'sign'", "not encryption operations")),
        (["decrypt"], ("'decrypt'",)),
        ("encrypt", ("must be a list of strings",)),
    ],
)
def test_bad_key_ops_are_refused(ec: tuple, key_ops: object, words: tuple[str, ...]) -> None:
    refused({**ec[1], "key_ops": key_ops}, "key_ops", *words)


@pytest.mark.parametrize(
    ("fixture", "alg"), [("ec", "ECDH-ES+A256KW"), ("rsa", "RSA1_5"), ("rsa", "ECDH-ES")]
)
def test_unsupported_alg_is_refused(request: pytest.FixtureRequest, fixture: str, alg: str) -> None:
    refused({**request.getfixturevalue(fixture)[1], "alg": alg}, f"unsupported alg {alg!r}")


def test_library_errors_never_escape() -> None:
    refused({"kty": "RSA", "n": "AQAB", "e": "AQAB", "use": "enc"}, "RSA")
    refused({"kty": "EC", "crv": "P-256", "x": "", "y": "", "use": "enc"}, "EC")
