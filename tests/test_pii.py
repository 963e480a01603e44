"""The one PII detector (promptctl/pii.py, used by the ``pii`` validator and by redaction) against
a corpus: real-format personal data of every kind must be found, and look-alikes (order numbers,
versions, dates, ISBNs, tracking numbers, numbers that fail their checksum) must not be."""

from __future__ import annotations

import pytest

from promptctl.pii import PII_TYPES, allowed_forms, detect, iban_ok, luhn_ok, mask, unknown_regions

# Assembled at run time: no credential-shaped literal sits in the repository.
OPENAI = "sk-proj-" + "Xq3vT9kLm2Pz8RwYb4Nc7HdJ1sAe6GfU5iKo0VtBn"
GITHUB = "ghp_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z5A"
AWS = "AKIA" + "Z7Q2M4X9R6T1V3B8"
JWT = "eyJhbGciOiJIUzI1NiJ9" + ".eyJzdWIiOiIxMjM0NTY3ODkwIn0" + ".dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk"

REAL = [  # (text, the kind found, the text of the finding)
    ("Write to jane.doe+news@example.com today", "email", "jane.doe+news@example.com"),
    ("Contact: Jöns <j_o@sub.mail.example.co.uk>.", "email", "j_o@sub.mail.example.co.uk"),
    ("Call me at (415) 555-0132 tomorrow", "phone", "(415) 555-0132"),
    ("US office: 650-253-0000", "phone", "650-253-0000"),
    ("London: +44 20 7946 0958", "phone", "+44 20 7946 0958"),
    ("Paris: +33 1 42 68 53 00", "phone", "+33 1 42 68 53 00"),
    ("Visa 4111 1111 1111 1111 exp 12/27", "card", "4111 1111 1111 1111"),
    ("mastercard 5555-5555-5555-4444", "card", "5555-5555-5555-4444"),
    ("2-series 2223003122003222", "card", "2223003122003222"),
    ("amex 3782 822463 10005", "card", "3782 822463 10005"),
    ("discover 6011111111111117.", "card", "6011111111111117"),
    ("IBAN DE89 3704 0044 0532 0130 00 BIC COBADEFFXXX", "iban", "DE89 3704 0044 0532 0130 00"),
    ("pay to GB82WEST12345698765432", "iban", "GB82WEST12345698765432"),
    ("FR14 2004 1010 0505 0001 3M02 606", "iban", "FR14 2004 1010 0505 0001 3M02 606"),
    ("NL91ABNA0417164300, thanks", "iban", "NL91ABNA0417164300"),
    ("login from 203.0.113.7 at noon", "ip", "203.0.113.7"),
    ("router 192.168.1.20.", "ip", "192.168.1.20"),
    ("v6 2001:db8::8a2e:370:7334 seen", "ip", "2001:db8::8a2e:370:7334"),
    ("link-local fe80::1ff:fe23:4567:890a", "ip", "fe80::1ff:fe23:4567:890a"),
    (f"OPENAI_API_KEY={OPENAI}", "secret", OPENAI),
    (f"token {GITHUB} leaked", "secret", GITHUB),
    (f"aws {AWS}", "secret", AWS),
    (f"Authorization: Bearer {JWT}", "secret", JWT),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----", "secret",
     "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----"),
    ('config: password = "Tr0ub4dor&3xKq9zLw2"', "secret", "Tr0ub4dor&3xKq9zLw2"),
]  # fmt: skip

LOOKALIKES = [
    "Order #123456789 shipped",
    "Order 4829301 shipped on 2024-03-15",
    "version 1.2.3, build 10.0.19041.1, release v1.2.3.4",
    "ISBN 978-3-16-148410-0 and ISBN-13 9783161484100",
    "ISBN-10 0-306-40615-2, also written 0306406152",
    "UPS tracking 1Z999AA10123456784",
    "USPS tracking 9400 1000 0000 0000 0000 00",
    "FedEx 7712 3456 7890",
    "date 15/03/2024 12:30:45, meeting at 10:30",
    "invoice INV-2024-000123, ticket 20240315-1234",
    "room 1234, ext 5678; year 2023-2024",
    "card-like 4111 1111 1111 1112 (Luhn fails)",
    "IBAN-like DE00 3704 0044 0532 0130 00 (checksum fails)",
    "not an ip: 1.2.3.256 or 300.1.1.1",
    "a MAC 00:1A:2B:3C:4D:5E and std::vector<int>",
    "user@localhost is not an address",
    "sk-learn-tutorial-for-beginners is a page",
    "price $1,234,567.89 at coordinates 48.8566, 2.3522",
    "AKIA alone, ghp_short",
    "order number 4111111111111111-A7",
    "p95 latency 64.378282246310005 ms",  # a card number as the decimals of a number
]


@pytest.mark.parametrize(("text", "kind", "found"), REAL)
def test_real_format_pii_is_found(text: str, kind: str, found: str) -> None:
    hits = detect(text, PII_TYPES, ["US"])
    assert [(h.type, h.text) for h in hits] == [(kind, found)]


@pytest.mark.parametrize("text", LOOKALIKES)
def test_lookalikes_are_not_pii(text: str) -> None:
    assert detect(text, PII_TYPES, ["US"]) == []


def test_regions_decide_national_formats() -> None:
    uk = "ring 020 7946 0958 or 0151 496 0123"
    assert detect(uk, ["phone"], ["US"]) == []
    assert [h.normalized for h in detect(uk, ["phone"], ["GB"])] == ["+442079460958", "+441514960123"]
    assert [h.normalized for h in detect("Tel. 030 901820", ["phone"], ["DE"])] == ["+4930901820"]


def test_checksums() -> None:
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert iban_ok("GB82WEST12345698765432") and not iban_ok("GB83WEST12345698765432")
    assert not iban_ok("GB82WEST1234569876543")  # wrong length for GB


def test_masks_keep_the_data_out_of_the_reason() -> None:
    assert mask("email", "jane.doe@example.com") == "j***@e***.com"
    assert mask("card", "4111 1111 1111 1111") == "***1111"
    assert mask("iban", "DE89 3704 0044 0532 0130 00") == "DE**…00"
    assert mask("ip", "203.0.113.7") == "203.***"


def test_allowed_forms_and_regions() -> None:
    forms = allowed_forms(["JANE@example.com", "+1 415-555-0132"], ["email", "phone"], ["US"])
    assert "jane@example.com" in forms and "+14155550132" in forms
    assert unknown_regions(["us", "XX", "GB"]) == ["XX"]
