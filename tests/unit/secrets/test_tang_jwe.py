"""JOSE pieces and whole bindings, offline: against vectors that clevis 19 and tang 11 made.

The vectors come from a throwaway Tang server: its advertisement, a ``clevis encrypt tang`` JWE,
a ``clevis encrypt sss`` JWE (t = 2 over two servers), and the servers' private exchange keys,
so that these tests can check decryption without any server.
"""

from __future__ import annotations

import json
import os
import secrets

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st

from anker.secrets import _p521, _sss
from anker.secrets._jwe import (
    CompactJWE,
    JOSEError,
    b64url_decode,
    b64url_encode,
    concat_kdf,
    dumps,
    encrypt_compact,
    jwk_from_point,
    parse_compact,
    point_from_jwk,
    thumbprint,
)
from anker.secrets._tang import (
    Advertisement,
    TangError,
    _bind_shares,
    _shown,
    bind,
    bind_to,
    parse_advertisement,
    recover,
)

URL_A, URL_B = "http://127.0.0.1:18771", "http://127.0.0.1:18772"

ADVERTISEMENT = (
    '{"payload": "eyJrZXlzIjogW3siYWxnIjogIkVTNTEyIiwgImNydiI6ICJQLTUyMSIsICJrZXlfb3BzIjogWyJ2ZXJ'
    "pZnkiXSwgImt0eSI6ICJFQyIsICJ4IjogIkFIbFJoTXdqTUpFa0FoakZaeWQxcU9lUUhJdjVUWGx1U01PbTIzZGg4bnZ"
    "QMDFzYUo5RVlVOGpVQUl1TzlQdW12SDhfRUpxRl9TdkhvVEdpbFJPaGFhQnAiLCAieSI6ICJBWlFSMVR3QWQtNG9GLTQ"
    "tWXVxNG41Q01HQkNuUTZQSjdtbHBna2Rld2ZoNnNJNGtOZTMyZmdoVm5ReFJXUWdfUWhLVWU3VW51MG5UYlZyd2xNcDl"
    "qYWcwIn0sIHsiYWxnIjogIkVDTVIiLCAiY3J2IjogIlAtNTIxIiwgImtleV9vcHMiOiBbImRlcml2ZUtleSJdLCAia3R"
    "5IjogIkVDIiwgIngiOiAiQUpBdXZKWTVnZHlSUlAwUXVNYTN0eW92ZmZQcWo4M1pNaHc4ekxJYlRTZzEtQ0g5Tm1HaWJ"
    "vQnpWcUdTcVZJelRQS1lsZ1JxaE5jTXM0UFRhN1VIcjhVUSIsICJ5IjogIkFYck0zb2luT0M1UFgxTGRmTXlESnRZbTA"
    'tVlFIMDFwLW9wejY1RUVWYkNuT1g5R1dXWFZoem1Zbjh5V1BZMzd5eGdMVjZuN1Q2T3hSaXBOZkg2VmoxLWIifV19",'
    '"protected": "eyJhbGciOiJFUzUxMiIsImN0eSI6Imp3ay1zZXQranNvbiJ9", "signature": "AK2FO9_vOfL_d'
    "sNlpayNqxKO-9pvwgSsY6Wv3j1-SEZH1BA9Hbs4jMfSD5G5hQLb3m_UKfmoukIk2Ywks0QQT_mIAeZcouMJ47xtCITeM"
    '2GZlAlcpg4cLcN2M1FS59JshYR8dl5E1lrR4Zd_uTICcc3_wQcxAoFbru4Da7Ceg1ifb91I"}'
)

TANG_JWE = (
    "eyJhbGciOiJFQ0RILUVTIiwiY2xldmlzIjp7InBpbiI6InRhbmciLCJ0YW5nIjp7ImFkdiI6eyJrZXlzIjpbeyJhbGci"
    "OiJFUzUxMiIsImNydiI6IlAtNTIxIiwia2V5X29wcyI6WyJ2ZXJpZnkiXSwia3R5IjoiRUMiLCJ4IjoiQUhsUmhNd2pN"
    "SkVrQWhqRlp5ZDFxT2VRSEl2NVRYbHVTTU9tMjNkaDhudlAwMXNhSjlFWVU4alVBSXVPOVB1bXZIOF9FSnFGX1N2SG9U"
    "R2lsUk9oYWFCcCIsInkiOiJBWlFSMVR3QWQtNG9GLTQtWXVxNG41Q01HQkNuUTZQSjdtbHBna2Rld2ZoNnNJNGtOZTMy"
    "ZmdoVm5ReFJXUWdfUWhLVWU3VW51MG5UYlZyd2xNcDlqYWcwIn0seyJhbGciOiJFQ01SIiwiY3J2IjoiUC01MjEiLCJr"
    "ZXlfb3BzIjpbImRlcml2ZUtleSJdLCJrdHkiOiJFQyIsIngiOiJBSkF1dkpZNWdkeVJSUDBRdU1hM3R5b3ZmZlBxajgz"
    "Wk1odzh6TEliVFNnMS1DSDlObUdpYm9CelZxR1NxVkl6VFBLWWxnUnFoTmNNczRQVGE3VUhyOFVRIiwieSI6IkFYck0z"
    "b2luT0M1UFgxTGRmTXlESnRZbTAtVlFIMDFwLW9wejY1RUVWYkNuT1g5R1dXWFZoem1Zbjh5V1BZMzd5eGdMVjZuN1Q2"
    "T3hSaXBOZkg2VmoxLWIifV19LCJ1cmwiOiJodHRwOi8vMTI3LjAuMC4xOjE4NzcxIn19LCJlbmMiOiJBMjU2R0NNIiwi"
    "ZXBrIjp7ImNydiI6IlAtNTIxIiwia3R5IjoiRUMiLCJ4IjoiQUJyMTNFWnNGTFZlQnR6ajQ3WEo2Y3hoMEtxZmV6X21y"
    "U1JhX19pZ1ZSbDJvWHRZQTRkaWtQSXZhZHU5enNRdVVUVDRlVDhHTF9rOENCdV82dzBtbVpwRiIsInkiOiJBZDk5RUlI"
    "STJBUnJwMXh4M1dsUVhOdHZMaWpnTHRacFJyNGJqNjlmblZxVG9WT3B0ZXRVSk1HSmo3RzZ4elZQaTBWc1d0M1FDeXFQ"
    "ZUxyUk9HMFNvU2daIn0sImtpZCI6IkxiSjJkSG5Vc3JTVnV3WWFQS2hYa1FLNnlXTFdrNlIyMGhIS0d3V0JubEkifQ.."
    "vRhSKpVULWlU8kCr.2FJYSG7EVQeUWGYe1KsKTjs.OEKZDvPnypzRngha_letgQ"
)

SSS_JWE = (
    "eyJhbGciOiJkaXIiLCJjbGV2aXMiOnsicGluIjoic3NzIiwic3NzIjp7Imp3ZSI6WyJleUpoYkdjaU9pSkZRMFJJTFVW"
    "VElpd2lZMnhsZG1seklqcDdJbkJwYmlJNkluUmhibWNpTENKMFlXNW5JanA3SW1Ga2RpSTZleUpyWlhseklqcGJleUpo"
    "YkdjaU9pSkZVelV4TWlJc0ltTnlkaUk2SWxBdE5USXhJaXdpYTJWNVgyOXdjeUk2V3lKMlpYSnBabmtpWFN3aWEzUjVJ"
    "am9pUlVNaUxDSjRJam9pUVVoc1VtaE5kMnBOU2tWclFXaHFSbHA1WkRGeFQyVlJTRWwyTlZSWWJIVlRUVTl0TWpOa2FE"
    "aHVkbEF3TVhOaFNqbEZXVlU0YWxWQlNYVlBPVkIxYlhaSU9GOUZTbkZHWDFOMlNHOVVSMmxzVWs5b1lXRkNjQ0lzSW5r"
    "aU9pSkJXbEZTTVZSM1FXUXRORzlHTFRRdFdYVnhORzQxUTAxSFFrTnVVVFpRU2pkdGJIQm5hMlJsZDJab05uTkpOR3RP"
    "WlRNeVptZG9WbTVSZUZKWFVXZGZVV2hMVldVM1ZXNTFNRzVVWWxaeWQyeE5jRGxxWVdjd0luMHNleUpoYkdjaU9pSkZR"
    "MDFTSWl3aVkzSjJJam9pVUMwMU1qRWlMQ0pyWlhsZmIzQnpJanBiSW1SbGNtbDJaVXRsZVNKZExDSnJkSGtpT2lKRlF5"
    "SXNJbmdpT2lKQlNrRjFka3BaTldka2VWSlNVREJSZFUxaE0zUjViM1ptWmxCeGFqZ3pXazFvZHpoNlRFbGlWRk5uTVMx"
    "RFNEbE9iVWRwWW05Q2VsWnhSMU54VmtsNlZGQkxXV3huVW5Gb1RtTk5jelJRVkdFM1ZVaHlPRlZSSWl3aWVTSTZJa0ZZ"
    "Y2swemIybHVUME0xVUZneFRHUm1UWGxFU25SWmJUQXRWbEZJTURGd0xXOXdlalkxUlVWV1lrTnVUMWc1UjFkWFdGWm9l"
    "bTFaYmpoNVYxQlpNemQ1ZUdkTVZqWnVOMVEyVDNoU2FYQk9aa2cyVm1veExXSWlmVjE5TENKMWNtd2lPaUpvZEhSd09p"
    "OHZNVEkzTGpBdU1DNHhPakU0TnpjeEluMTlMQ0psYm1NaU9pSkJNalUyUjBOTklpd2laWEJySWpwN0ltTnlkaUk2SWxB"
    "dE5USXhJaXdpYTNSNUlqb2lSVU1pTENKNElqb2lRVWg0TlRKWFdVMHphVjlHVEZWUFVVeE1WVmx5V0Y5bVRra3dja2x1"
    "VjJObFpuWmxZblk1T1dwT2ExazNUR2x4Y2xkNGJIcFJRbEpOVDJGc2RucHFlazVPYmtsWGVWSnlkVWxHTVRWTFltTmtU"
    "VTgwVWtaM1h5SXNJbmtpT2lKQlVIZ3lWMUZWTUZsV2NsQmliRFEwZEhKc1pqUjRjekpCVTFjMmMzbFZlVXRJYTFWSWVU"
    "bG9UVXc1VkVocFRVZHBRV3d3YzFGNlZGSjBjVWxmTkVreVkxUXhWV0poUlZoNFVtOWpNa051ZW10dk1YRllTakpHSW4w"
    "c0ltdHBaQ0k2SWt4aVNqSmtTRzVWYzNKVFZuVjNXV0ZRUzJoWWExRkxObmxYVEZkck5sSXlNR2hJUzBkM1YwSnViRWtp"
    "ZlEuLlJLTFpDUVYwYjBlczdaVl8ucUJZVFZjX0NEWURXcEZlY0JZRTYtSS1PYzl3ejFZRWlnZEVVMkYxMksta2dGRXNM"
    "cmVqT3poZ0JKa2VSUGJlV09TeTk0ZVdFNDFrQWctOVBmdjh5dEEuZXFlMjZtb3ltR25lXzV5QjlxZkZpdyIsImV5Smhi"
    "R2NpT2lKRlEwUklMVVZUSWl3aVkyeGxkbWx6SWpwN0luQnBiaUk2SW5SaGJtY2lMQ0owWVc1bklqcDdJbUZrZGlJNmV5"
    "SnJaWGx6SWpwYmV5SmhiR2NpT2lKRlEwMVNJaXdpWTNKMklqb2lVQzAxTWpFaUxDSnJaWGxmYjNCeklqcGJJbVJsY21s"
    "MlpVdGxlU0pkTENKcmRIa2lPaUpGUXlJc0luZ2lPaUpCUlZreWVsSlpVVWhPWDBOZk5rczNiRnBSVXkwMGJVY3dNV2RL"
    "TlhKS1ZWRkRhRlk1TUhWUFNEbDJUa1oxWmxCd1kwTkdkbWwwUkVoclJGZEZSVGhxVkdkc1ZqZHVZWGM0UldGdWNrZ3pO"
    "bUZWT1V4MGQwdG5JaXdpZVNJNklrRlVaazVVUmtSNFZsY3hMVVF5VDA0M2EzZFhRazR0ZVU1clRIZE9jMU5vUzIwMWRH"
    "MXFjRkI0VjB4UldqTk9iR1I0Y25wU1RWVk9ja3BHVFZsV2FuY3pVRFJZZW1aQ1VETklielZMUVhsRkxXZFZPR1pWYTNv"
    "aWZTeDdJbUZzWnlJNklrVlROVEV5SWl3aVkzSjJJam9pVUMwMU1qRWlMQ0pyWlhsZmIzQnpJanBiSW5abGNtbG1lU0pk"
    "TENKcmRIa2lPaUpGUXlJc0luZ2lPaUpCVUcxMVVuQTFNbEJ4WmtSaWRuQmtMVWxEVkdGTVUweFdRbkZRWXpOaVkyeEdO"
    "VVpqYkRaeFVURkdTRFo2VUZoYVNFOXJkVEYxV201TVYyRmhWWGxKV0MxTVJEVkRNbmxTTVZZNVVrSndTazQ1ZWtOdlJq"
    "UkZJaXdpZVNJNklrRlBhMGN0UW5wUmVFcERjRXBJWVZreVVtRkJlVVE0TTJZeE1EZGxVbEJIT1c0MFVUVnplR1pCVW0x"
    "TlZXNUlZVk5UYzI5aFRVWnFkMWhFZGpRd05YQlBSRnBqTlY5TFNtZFNSamQ2VEUxRlQyZFVVMmxUVlc4aWZWMTlMQ0ox"
    "Y213aU9pSm9kSFJ3T2k4dk1USTNMakF1TUM0eE9qRTROemN5SW4xOUxDSmxibU1pT2lKQk1qVTJSME5OSWl3aVpYQnJJ"
    "anA3SW1OeWRpSTZJbEF0TlRJeElpd2lhM1I1SWpvaVJVTWlMQ0o0SWpvaVFWcE9PV1JKV2xKTFltWjJMVU0yYm5CMlkw"
    "NHdXWEl5TW5oRVZsSnBaVWxGWTNVemN6QlBXVkV3TlZWSlNVRm5ka3RaY1c1MGVrTXlUR052YVdjMmJHbERablZ0V21z"
    "M1MwOVpPSGhSZEhoVlpsWlBOekY0WHlJc0lua2lPaUpCVFhsU05rMTNORE5xYkd0SGRVaEVOV2Q1UVRob1VXMWpkekpt"
    "UzFaQ2VVdFVka1Z0VTBselVVSlVaVE55YkVKTVNGRTVhVkZLWm5SdFRGWnZUVXhxVGt4d2MweGpNSEp6UjNaeVpERnpj"
    "elJCVmpkM2NXcHlJbjBzSW10cFpDSTZJbFJMWXpsRWJXTm9jMnhPYjNKamVtNVZiRGx6Ymt0S1lXWnpUa0ZwU0VST1ZY"
    "RjFOVVZYTTNKbVlXOGlmUS4uRUswcHZlM1lKak1FeDBFRS5UeWFaa2g2UGQ0VXhaSzgtanpBdC1oWkVCN0lLMm9wYjNU"
    "Nmo5N2RpZWhMS0t1dmZmTlJON0U1TUpsNlhyMW1wVzJ1WjE1Q05rUldNM3VJeklENTc5QS5xOHVFQTNWcXhpN0Q4eGFl"
    "MEFiRXlBIl0sInAiOiJfR3VieGctVngxaUxxTXM5bHZxWGJmSzRyTUlUYkhRR1d4SWVBZVIzWGQ4IiwidCI6Mn19LCJl"
    "bmMiOiJBMjU2R0NNIn0..or8ytn7E7z6xI9uF.XzXDQlOPQcN_CE3jidb35w.UNDrXUN2MQVEE-s3z5PwLA"
)

EXCHANGE_D = {
    "http://127.0.0.1:18771": (
        "AS24JRnPfD7Xp20F9bd9A4w4azIxWbZeQ6MsUBK4ajW2fG4tS_f-SnQ9yAUHXfZGGf90ToHrOdGPxFI48ScizNsJ"
    ),
    "http://127.0.0.1:18772": (
        "ATIJPPmIr1a4OTp6CLABy6eurp04le0wQp0t6WpgrMcQe2086EoTqN3ec6c3IPAJrA02saX6WnedMPgIHU_4CaqS"
    ),
}


# ---------------------------------------------------------------------------- helpers
def private(url: str) -> int:
    return int.from_bytes(b64url_decode(EXCHANGE_D[url], "d"), "big")


def exchange_point(url: str) -> tuple[int, int]:
    numbers = ec.derive_private_key(private(url), ec.SECP521R1()).public_key().public_numbers()
    return numbers.x, numbers.y


def open_tang(jwe: CompactJWE) -> bytes:
    """Decrypt a tang-pin JWE with the server's private key, as the server itself could."""
    url = jwe.header["clevis"]["tang"]["url"]
    shared = _p521.multiply(private(url), point_from_jwk(jwe.header["epk"], "epk"))
    assert shared is not None
    return jwe.decrypt(concat_kdf(shared[0].to_bytes(66, "big"), jwe.header["enc"]))


def open_sss(jwe: CompactJWE) -> bytes:
    sss = jwe.header["clevis"]["sss"]
    prime_bytes = b64url_decode(sss["p"], "p")
    prime = int.from_bytes(prime_bytes, "big")
    shares = [_sss.decode_share(open_tang(parse_compact(inner)), prime) for inner in sss["jwe"]]
    key = _sss.combine(shares[: sss["t"]], prime).to_bytes(len(prime_bytes), "big")
    return jwe.decrypt(key)


def header_of(text: str) -> bytes:
    return b64url_decode(text.split(".", 1)[0], "header")


# ---------------------------------------------------------------------------- base64url, JSON
@given(st.binary(max_size=200))
def test_base64url_round_trips(data: bytes) -> None:
    text = b64url_encode(data)
    assert not set(text) & set("=+/")
    assert b64url_decode(text, "x") == data


@pytest.mark.parametrize("text", ["a", "ab=c", "ab+c", "ab/c", "a b", "é"])
def test_base64url_rejects_other_text(text: str) -> None:
    with pytest.raises(JOSEError, match="the field is not base64url"):
        b64url_decode(text, "the field")


def test_headers_are_serialized_as_jose_does() -> None:
    assert dumps({"b": 1, "a": {"d": [1, 2], "c": "x"}}) == '{"a":{"c":"x","d":[1,2]},"b":1}'


# ---------------------------------------------------------------------------- keys
def test_jwk_round_trips_and_is_checked() -> None:
    point = exchange_point(URL_A)
    jwk = jwk_from_point(point)
    assert sorted(jwk) == ["crv", "kty", "x", "y"]
    assert len(b64url_decode(jwk["x"], "x")) == 66
    assert point_from_jwk(jwk, "k") == point
    with pytest.raises(JOSEError, match="not a point on P-521"):
        point_from_jwk({**jwk, "y": jwk["x"]}, "k")
    with pytest.raises(JOSEError, match="not an EC P-521 key"):
        point_from_jwk({**jwk, "crv": "P-256"}, "k")
    with pytest.raises(JOSEError, match="not a JWK object"):
        point_from_jwk([jwk], "k")
    with pytest.raises(JOSEError, match="67 bytes"):
        point_from_jwk({**jwk, "x": b64url_encode(bytes(67))}, "k")
    with pytest.raises(JOSEError, match="not base64url"):
        point_from_jwk({**jwk, "x": None}, "k")


def test_thumbprint_matches_tangs_key_file_names() -> None:
    # tangd-keygen names each key file by its S256 thumbprint; clevis uses it as kid
    header = json.loads(header_of(TANG_JWE))
    exchange = [k for k in header["clevis"]["tang"]["adv"]["keys"] if k["alg"] == "ECMR"]
    assert thumbprint(exchange[0]) == header["kid"]
    assert len(thumbprint(exchange[0], "S1")) == 27


# ---------------------------------------------------------------------------- advertisement
def test_a_real_advertisement_verifies() -> None:
    adv = parse_advertisement(URL_A, ADVERTISEMENT.encode())
    assert len(adv.signing_keys) == 1
    assert point_from_jwk(adv.exchange_key, "k") == exchange_point(URL_A)
    assert adv.kid == json.loads(header_of(TANG_JWE))["kid"]
    assert adv.payload == json.loads(b64url_decode(json.loads(ADVERTISEMENT)["payload"], "p"))
    assert repr(adv) == f"Advertisement(url='{URL_A}', kid='{adv.kid}')"


def test_the_general_jws_form_verifies_too() -> None:
    jws = json.loads(ADVERTISEMENT)
    general = {
        "payload": jws["payload"],
        "signatures": [{"protected": jws["protected"], "signature": jws["signature"]}],
    }
    assert parse_advertisement(URL_A, json.dumps(general).encode()).kid


def tampered_payload(change: dict[str, object]) -> bytes:
    jws = json.loads(ADVERTISEMENT)
    payload = json.loads(b64url_decode(jws["payload"], "p"))
    payload["keys"][0] = {**payload["keys"][0], **change}
    return json.dumps({**jws, "payload": b64url_encode(json.dumps(payload).encode())}).encode()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<html>", "is not JSON"),
        (b"[]", "is not a JSON object"),
        (b'{"keys": []}', "not a JWS"),
        (tampered_payload({"kid": "x"}), "not signed by its signing key"),
        (tampered_payload({"key_ops": ["sign"]}), "at least one signing"),
        (tampered_payload({"crv": "P-384"}), "not an EC P-521 key"),
        (
            ADVERTISEMENT.replace('"signature": "', '"signature": "AAAA').encode(),
            "not signed by its signing key",
        ),
        (
            ADVERTISEMENT.replace(
                json.loads(ADVERTISEMENT)["protected"], b64url_encode(b'{"alg":"ES512"}')
            ).encode(),
            "not signed by its signing key",
        ),
    ],
)
def test_bad_advertisements_are_rejected(body: bytes, reason: str) -> None:
    with pytest.raises(TangError, match=reason) as caught:
        parse_advertisement(URL_A, body)
    assert caught.value.url == URL_A
    assert str(caught.value).startswith(f"Tang server {URL_A}: bad advertisement: ")


# ---------------------------------------------------------------------------- clevis's JWEs
def test_clevis_tang_jwe_decrypts_with_the_servers_key() -> None:
    jwe = parse_compact(TANG_JWE)
    assert jwe.header["alg"] == "ECDH-ES"
    assert jwe.header["enc"] == "A256GCM"
    assert jwe.header["clevis"]["pin"] == "tang"
    assert open_tang(jwe) == b"anker test vector"


def test_the_mccallum_relyea_exchange_opens_clevis_tang_jwe() -> None:
    jwe = parse_compact(TANG_JWE)
    epk = point_from_jwk(jwe.header["epk"], "epk")
    e = secrets.randbelow(_p521.N - 1) + 1
    reply = _p521.multiply(private(URL_A), _p521.add(epk, _p521.multiply(e, _p521.G)))
    shared = _p521.subtract(reply, _p521.multiply(e, exchange_point(URL_A)))
    assert shared is not None
    assert jwe.decrypt(concat_kdf(shared[0].to_bytes(66, "big"), "A256GCM")) == b"anker test vector"


def test_clevis_sss_jwe_decrypts_with_the_servers_keys() -> None:
    jwe = parse_compact(SSS_JWE)
    assert jwe.header["alg"] == "dir"
    sss = jwe.header["clevis"]["sss"]
    assert sss["t"] == 2
    assert len(sss["jwe"]) == 2
    assert _sss.is_probable_prime(int.from_bytes(b64url_decode(sss["p"], "p"), "big"))
    assert open_sss(jwe) == b"anker sss vector"


# ---------------------------------------------------------------------------- anker's JWEs
def test_bind_to_writes_the_header_clevis_writes() -> None:
    adv = parse_advertisement(URL_A, ADVERTISEMENT.encode())
    secret = os.urandom(32)
    made = bind_to(secret, adv)
    ours, theirs = json.loads(header_of(made)), json.loads(header_of(TANG_JWE))
    assert header_of(made) == dumps(ours).encode(), "sorted keys, no spaces"
    assert point_from_jwk(ours.pop("epk"), "epk") != point_from_jwk(theirs.pop("epk"), "epk")
    assert ours == theirs
    assert [len(part) for part in made.split(".")][1:3] == [0, 16]
    assert open_tang(parse_compact(made)) == secret


@pytest.mark.parametrize(("threshold", "count"), [(1, 2), (2, 2), (2, 3)])
def test_bound_shares_open_with_any_threshold_of_servers(threshold: int, count: int) -> None:
    jwk = jwk_from_point(exchange_point(URL_B))
    keys = {"keys": [{**jwk, "alg": "ECMR", "key_ops": ["deriveKey"]}]}
    adv = Advertisement(URL_B, keys, [], keys["keys"])
    secret = b"\x00 a secret with a NUL \xff"
    made = parse_compact(_bind_shares(secret, [adv] * count, threshold))
    assert sorted(made.header) == ["alg", "clevis", "enc"]
    sss = made.header["clevis"]["sss"]
    assert (sss["t"], len(sss["jwe"]), len(b64url_decode(sss["p"], "p"))) == (threshold, count, 32)
    assert open_sss(made) == secret


# ---------------------------------------------------------------------------- compact JWEs
@given(
    st.dictionaries(
        st.text(min_size=1, max_size=8).filter(lambda k: k not in {"alg", "enc", "zip", "crit"}),
        st.one_of(st.text(max_size=20), st.integers(), st.booleans(), st.lists(st.integers())),
        max_size=5,
    ),
    st.binary(max_size=100),
)
def test_compact_jwes_round_trip(extra: dict[str, object], plaintext: bytes) -> None:
    header = {**extra, "alg": "dir", "enc": "A256GCM"}
    key = os.urandom(32)
    parsed = parse_compact(encrypt_compact(header, key, plaintext))
    assert parsed.header == header
    assert parsed.decrypt(key) == plaintext
    assert "A256GCM" in repr(parsed)
    # the repr names the algorithms and nothing of the content (a short plaintext's hex could
    # occur in any text by chance, so look for long ones only)
    assert len(plaintext) < 4 or plaintext.hex() not in repr(parsed)


def flip(text: str, part: int) -> str:
    parts = text.split(".")
    data = bytearray(b64url_decode(parts[part], "part"))
    data[len(data) // 2] ^= 1
    parts[part] = b64url_encode(bytes(data))
    return ".".join(parts)


@pytest.mark.parametrize("part", [0, 2, 3, 4])
def test_any_modification_fails_authentication(part: int) -> None:
    key = os.urandom(32)
    text = encrypt_compact({"alg": "dir", "enc": "A256GCM", "n": 12345}, key, b"payload bytes")
    with pytest.raises(JOSEError):
        parse_compact(flip(text, part)).decrypt(key)
    with pytest.raises(JOSEError, match="failed authentication"):
        parse_compact(text).decrypt(os.urandom(32))


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("a.b.c.d", "5 dot-separated parts"),
        (f"{b64url_encode(b'{}')}.AAAA.{'A' * 16}..{'A' * 22}", "encrypted key"),
        (f"{b64url_encode(b'[]')}....", "not a JSON object"),
        (f"{b64url_encode(b'{')}....", "not JSON"),
        (f"{b64url_encode(dumps({'alg': 'RSA-OAEP', 'enc': 'A256GCM'}).encode())}....", "alg"),
        (f"{b64url_encode(dumps({'alg': 'dir', 'enc': 'A256CBC-HS512'}).encode())}....", "enc"),
        (
            f"{b64url_encode(dumps({'alg': 'dir', 'enc': 'A256GCM', 'zip': 'DEF'}).encode())}....",
            "zip",
        ),
        (f"{b64url_encode(dumps({'alg': 'dir', 'enc': 'A256GCM'}).encode())}..AAAA..", "IV"),
    ],
)
def test_malformed_compact_jwes_are_rejected(text: str, reason: str) -> None:
    with pytest.raises(JOSEError, match=reason):
        parse_compact(text)


def test_a_trailing_newline_is_tolerated() -> None:
    assert parse_compact(TANG_JWE + "\n").header["kid"]


# ---------------------------------------------------------------------------- errors
def test_errors_name_the_server_and_list_failures() -> None:
    one = TangError("GET /adv failed: ConnectError", url="http://a:1")
    two = TangError("POST /rec/x answered HTTP 404", url="http://b:2")
    both = TangError("cannot recover: 1 of 2 Tang servers needed, 2 failed", failures=[one, two])
    assert str(one) == "Tang server http://a:1: GET /adv failed: ConnectError"
    assert str(both) == (
        "cannot recover: 1 of 2 Tang servers needed, 2 failed"
        " (Tang server http://a:1: GET /adv failed: ConnectError;"
        " Tang server http://b:2: POST /rec/x answered HTTP 404)"
    )
    assert both.failures == (one, two)
    assert both.url is None


def test_urls_in_messages_hide_passwords() -> None:
    assert _shown("https://user:hunter2@tang.example/x") == "https://user:****@tang.example/x"
    assert _shown("http://tang.example") == "http://tang.example"


# ---------------------------------------------------------------------------- arguments
async def test_bind_checks_its_arguments_before_any_request() -> None:
    with pytest.raises(TypeError, match="not one URL string"):
        await bind(b"k", "http://127.0.0.1:1")
    with pytest.raises(ValueError, match="at least one"):
        await bind(b"k", [])
    for threshold in (0, 3):
        with pytest.raises(ValueError, match=r"threshold must be in 1\.\.2"):
            await bind(b"k", ["http://127.0.0.1:1", "http://127.0.0.1:2"], threshold=threshold)


async def test_recover_rejects_what_is_not_a_clevis_binding() -> None:
    with pytest.raises(TypeError, match="must be a str"):
        await recover(b"a.b.c.d.e")  # type: ignore[arg-type]
    with pytest.raises(TangError, match="5 dot-separated parts"):
        await recover("not a jwe")
    plain = encrypt_compact({"alg": "dir", "enc": "A256GCM"}, os.urandom(32), b"x")
    with pytest.raises(TangError, match="not a clevis tang or sss binding"):
        await recover(plain)
    tpm = encrypt_compact(
        {"alg": "dir", "enc": "A256GCM", "clevis": {"pin": "tpm2"}}, os.urandom(32), b"x"
    )
    with pytest.raises(TangError, match="pin 'tpm2'"):
        await recover(tpm)


@pytest.mark.parametrize(
    ("sss", "reason"),
    [
        ({"t": 1, "p": b64url_encode(bytes(32))}, "no list of inner bindings"),
        (
            {"t": 2, "p": b64url_encode((2**255 - 19).to_bytes(32, "big")), "jwe": ["x"]},
            "threshold",
        ),
        ({"t": "1", "p": b64url_encode((2**255 - 19).to_bytes(32, "big")), "jwe": ["x"]}, "thresh"),
        ({"t": 1, "p": b64url_encode((2**255 - 21).to_bytes(32, "big")), "jwe": ["x"]}, "prime"),
        ({"t": 1, "p": "*", "jwe": ["x"]}, "sss 'p' is not base64url"),
        (
            {"t": 1, "p": b64url_encode((2**255 - 19).to_bytes(32, "big")), "jwe": ["x"]},
            "inner binding #1 is malformed",
        ),
    ],
)
async def test_malformed_sss_headers_are_rejected(sss: dict[str, object], reason: str) -> None:
    header = {"alg": "dir", "enc": "A256GCM", "clevis": {"pin": "sss", "sss": sss}}
    with pytest.raises(TangError, match=reason):
        await recover(encrypt_compact(header, os.urandom(32), b"x"))
