"""Kraken's published signing test vector and the derived ones (kraken-protocol.md §1.3)."""

from krakenwire.auth import Signer, sign

SECRET = "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg=="


def test_official_vector() -> None:
    body = "nonce=1616492376594&ordertype=limit&pair=XBTUSD&price=37500&type=buy&volume=1.25"
    expected = (
        "4/dpxb3iT4tp/ZCVEwSnEsLxx0bqyhLpdfOpc6fn7OR8+UClSV5n9E6aSS8MPtnRfp32bAb0nmbRn6H8ndwLUQ=="
    )
    assert sign(SECRET, "/0/private/AddOrder", 1616492376594, body) == expected
    assert Signer(SECRET).sign("/0/private/AddOrder", "1616492376594", body.encode()) == expected


def test_token_vector_and_verify() -> None:
    signer = Signer(SECRET)
    expected = (
        "+mRDmY9Ks0Moc1zjv/BjfvYa98buO0x1yHChZR5onlfAzAUbfIYlLggUZzdQ0RsmXm4Sh+Q8iAIZdo2wSeHeiA=="
    )
    got = signer.sign("/0/private/GetWebSocketsToken", 1616492376594, "nonce=1616492376594")
    assert got == expected
    assert signer.verify("/0/private/GetWebSocketsToken", 1616492376594, "nonce=1616492376594",
                         expected)
    assert not signer.verify("/0/private/Balance", 1616492376594, "nonce=1616492376594", expected)
    assert SECRET not in repr(signer)
