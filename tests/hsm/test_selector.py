"""Token selection by label, serial or RFC 7512 pkcs11: URI: a table of URIs and tokens."""

from __future__ import annotations

import pytest

from hsm.errors import TokenAbsentError, TokenSelectionError
from hsm.selector import (
    TokenFacts,
    TokenSelector,
    choose_token,
    parse_token_uri,
    token_selector,
)

PRESENT = [
    TokenFacts(1, "root token", "0001", "SoftHSM project", "SoftHSM v2"),
    TokenFacts(2, "sub-cas", "0002", "SoftHSM project", "SoftHSM v2"),
    TokenFacts(7, "sub-cas", "DENK0100123", "www.CardContact.de", "PKCS#15 emulated"),
    TokenFacts(9, "YubiHSM", "12345678", "Yubico (www.yubico.com)", "YubiHSM"),
]


@pytest.mark.parametrize("uri,slot", [
    ("pkcs11:token=root%20token", 1),
    ("PKCS11:token=root%20token", 1),  # the scheme is case-insensitive (RFC 3986)
    ("pkcs11:serial=0002", 2),
    ("pkcs11:token=sub-cas;serial=DENK0100123", 7),
    ("pkcs11:model=PKCS%2315%20emulated", 7),
    ("pkcs11:manufacturer=www.CardContact.de;token=sub-cas", 7),
    ("pkcs11:manufacturer=Yubico%20(www.yubico.com)", 9),
    ("pkcs11:slot-id=9", 9),
    ("pkcs11:token=%59%75%62%69HSM", 9),  # every character may be percent-encoded
])
def test_uris_choose_one_token(uri, slot):
    assert choose_token(PRESENT, parse_token_uri(uri)).slot_id == slot


@pytest.mark.parametrize("uri,message", [
    ("pkcs11:token=sub-cas", "2 tokens match"),
    ("pkcs11:token=nope", "no token"),
    ("pkcs11:serial=0001;token=sub-cas", "no token"),
])
def test_no_match_or_several_is_refused(uri, message):
    with pytest.raises(TokenAbsentError, match=message):
        choose_token(PRESENT, parse_token_uri(uri))


@pytest.mark.parametrize("uri,message", [
    ("token=x", "must start with 'pkcs11:'"),
    ("http:token=x", "must start with 'pkcs11:'"),
    ("pkcs11:", "label, serial or pkcs11: URI is needed"),
    ("pkcs11:token", "has no value"),
    ("pkcs11:token=a;token=b", "given twice"),
    ("pkcs11:token=a%2", "bad percent-encoding"),
    ("pkcs11:token=a%zz", "bad percent-encoding"),
    ("pkcs11:token=%ff%fe", "not UTF-8"),
    ("pkcs11:token=root token", "unencoded"),
    ("pkcs11:token=a/b", "unencoded"),
    ("pkcs11:token=%20", "printable and not blank"),
    ("pkcs11:slot-id=0x9", "decimal"),
    ("pkcs11:slot-id=-1", "decimal"),
    ("pkcs11:object=root-key", "selects a key, not a token"),
    ("pkcs11:token=a;id=%01", "selects a key"),
    ("pkcs11:token=a;type=private", "selects a key"),
    ("pkcs11:library-manufacturer=OpenSC", "not supported"),
    ("pkcs11:slot-description=reader", "not supported"),
    ("pkcs11:token=a?pin-value=1234", "never goes into a URI"),
    ("pkcs11:token=a?pin-source=file:/pin", "refused"),
    ("pkcs11:token=a?module-path=/usr/lib/x.so", "configured on its own"),
    ("pkcs11:tokne=a", "unknown attribute 'tokne'"),
    ("pkcs11:x-vendor=1", "unknown attribute"),
    ("pkcs11:token=" + "a" * 1100, "too long"),
])
def test_bad_uris_are_refused_with_one_line(uri, message):
    with pytest.raises(TokenSelectionError, match=message) as ei:
        parse_token_uri(uri)
    assert "\n" not in str(ei.value)
    assert "1234" not in str(ei.value)  # I10: a PIN in a URI is never echoed


def test_a_refused_pin_value_is_not_echoed():
    with pytest.raises(TokenSelectionError) as ei:
        parse_token_uri("pkcs11:token=a?pin-value=s3cret-pin")
    assert "s3cret" not in str(ei.value)


def test_label_serial_or_uri():
    assert token_selector(label="hier") == TokenSelector(label="hier")
    assert token_selector(serial="0002") == TokenSelector(serial="0002")
    assert token_selector(label="sub-cas", serial="0002").matches(PRESENT[1])
    assert token_selector(uri="pkcs11:slot-id=1") == TokenSelector(slot_id=1)
    with pytest.raises(TokenSelectionError, match="not both"):
        token_selector(label="x", uri="pkcs11:token=x")
    with pytest.raises(TokenSelectionError, match="is needed"):
        token_selector()


@pytest.mark.parametrize("selector", [
    TokenSelector(label="root token"),
    TokenSelector(label="a;b=c?d&e%f", serial="00 01"),
    TokenSelector(manufacturer="Yubico (www.yubico.com)", model="YubiHSM", slot_id=9),
    TokenSelector(label="Zürich"),
])
def test_to_uri_round_trips(selector):
    assert parse_token_uri(selector.to_uri()) == selector
