"""Personal data in text: one detector, used by the ``pii`` validator (which fails an output
holding any) and by redaction (:mod:`promptctl.redact`, which masks it out of everything promptctl
writes). It sits on the ground floor so that every writer can use it.

What is found, and how look-alikes are kept out:

- ``email``: ``local@domain.tld`` (a dotted domain with a letter TLD; ``user@host`` is not one).
- ``phone``: Google's ``phonenumbers`` (libphonenumber) ``PhoneNumberMatcher`` with
  ``STRICT_GROUPING`` leniency, for each ``region`` (ISO 3166 codes, default ``US``; numbers
  written with ``+`` and a country code are found whatever the region): the number must be
  valid for its region and grouped as people write it, so order numbers, dates, ISBNs and
  version strings do not match.
- ``card``: 13-19 digits (spaces or dashes between groups) whose prefix is a card network's
  (Visa, Mastercard, Amex, Discover, JCB, Diners, UnionPay, Maestro) and whose Luhn check holds.
- ``iban``: a country code, two check digits and the account part, of that country's IBAN
  length, whose ISO 13616 mod-97 check holds.
- ``ip``: IPv4 (every part 0-255, not written as a version ``v1.2.3.4``) and IPv6 addresses
  (``ipaddress`` decides).
- ``secret``: strings shaped like credentials: provider API keys by their prefixes (OpenAI,
  Anthropic, GitHub, GitLab, AWS, Google, Slack, Stripe, Hugging Face), JWTs, private-key
  blocks, and ``api_key = …`` / ``password: …`` assignments of a random-looking value.

``allow`` values are compared normalised (:func:`normalize`): e-mail case-insensitively, phone
numbers as E.164, cards and IBANs by their characters, IPs canonically.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "DEFAULT_REGION",
    "PII_TYPES",
    "Finding",
    "allowed_forms",
    "detect",
    "iban_ok",
    "luhn_ok",
    "mask",
    "normalize",
    "unknown_regions",
]

PII_TYPES = ("email", "phone", "card", "iban", "ip", "secret")
DEFAULT_REGION = "US"
# When two findings overlap, the kind earlier here wins (a card number is not also a phone).
_PRIORITY = {t: i for i, t in enumerate(("secret", "email", "iban", "card", "ip", "phone"))}


@dataclass(frozen=True)
class Finding:
    type: str
    start: int
    end: int
    text: str
    normalized: str  # what ``allow`` is compared with

    def masked(self) -> str:
        return mask(self.type, self.text)


# -- e-mail -----------------------------------------------------------------------------------------
_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?![\w-])"
)


def _emails(text: str) -> Iterable[Finding]:
    for m in _EMAIL.finditer(text):
        yield Finding("email", m.start(), m.end(), m.group(), m.group().lower())


# -- phone numbers ----------------------------------------------------------------------------------
def _phones(text: str, regions: list[str]) -> Iterable[Finding]:
    import phonenumbers

    seen: set[tuple[int, int]] = set()
    for region in regions:
        for m in phonenumbers.PhoneNumberMatcher(
            text, region, leniency=phonenumbers.Leniency.STRICT_GROUPING
        ):
            if (m.start, m.end) in seen:
                continue
            seen.add((m.start, m.end))
            e164 = phonenumbers.format_number(m.number, phonenumbers.PhoneNumberFormat.E164)
            yield Finding("phone", m.start, m.end, m.raw_string, e164)


# -- payment cards ----------------------------------------------------------------------------------
# not inside a longer run of digit groups (a tracking number's first 16 digits are not a card),
# nor the decimals of a number (0.5612345678901234)
_CARD = re.compile(r"(?<![\w.-])(?<!\d[ -])(?:\d[ -]?){12,18}\d(?![\w-])(?![ -]\d)")
_CARD_PREFIX = re.compile(
    r"4|5[1-5]|2(?:2[2-9][1-9]|2[3-9]\d|[3-6]\d\d|7[01]\d|720)|3[47]|6011|64[4-9]|65|35(?:2[89]|[3-8]\d)"
    r"|30[0-5]|36|38|62|50|5[6-8]|6[37]"
)


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _cards(text: str) -> Iterable[Finding]:
    for m in _CARD.finditer(text):
        raw = m.group()
        if re.search(r"[ -]{2}", raw):
            continue
        digits = re.sub(r"\D", "", raw)
        if 13 <= len(digits) <= 19 and _CARD_PREFIX.match(digits) and luhn_ok(digits):
            yield Finding("card", m.start(), m.end(), raw, digits)


# -- IBANs ------------------------------------------------------------------------------------------
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
    "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
    "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22,
    "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25,
    "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27,
    "ST": 25, "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip
_IBAN = re.compile(r"(?<![A-Za-z0-9])([A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30})(?![A-Za-z0-9])")


def iban_ok(iban: str) -> bool:
    if IBAN_LENGTHS.get(iban[:2]) != len(iban):
        return False
    moved = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in moved)) % 97 == 1


def _ibans(text: str) -> Iterable[Finding]:
    for m in _IBAN.finditer(text):
        raw = m.group(1)
        compact = raw.replace(" ", "")
        # the longest candidate may have swallowed a following word: try shorter ends too
        for end in range(len(compact), 14, -1):
            if iban_ok(compact[:end]):
                used = _span_of(raw, end)
                yield Finding("iban", m.start(1), m.start(1) + used, raw[:used], compact[:end])
                break


def _span_of(raw: str, chars: int) -> int:
    """Length of the prefix of ``raw`` that holds ``chars`` non-space characters."""
    n = 0
    for i, ch in enumerate(raw):
        if ch != " ":
            n += 1
            if n == chars:
                return i + 1
    return len(raw)


# -- IP addresses -----------------------------------------------------------------------------------
_IPV4 = re.compile(r"(?<![\w.])(\d{1,3}(?:\.\d{1,3}){3})(?![\w.]*\d)")
_IPV6 = re.compile(r"(?<![\w:])([0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:%\w+)?)(?![\w:])")
_VERSIONISH = re.compile(r"(?:\bv|\bversion\s*|\bver\.?\s*)$", re.IGNORECASE)


def _ips(text: str) -> Iterable[Finding]:
    for m in _IPV4.finditer(text):
        if _VERSIONISH.search(text[max(0, m.start() - 9) : m.start()]):
            continue
        try:
            addr = ipaddress.IPv4Address(m.group(1))
        except ValueError:
            continue
        yield Finding("ip", m.start(1), m.end(1), m.group(1), str(addr))
    for m in _IPV6.finditer(text):
        cand = m.group(1)
        if cand.count(":") < 2 or not re.search(r"[0-9A-Fa-f]", cand):
            continue
        try:
            addr6 = ipaddress.IPv6Address(cand)
        except ValueError:
            continue
        yield Finding("ip", m.start(1), m.end(1), cand, str(addr6))


# -- secrets ----------------------------------------------------------------------------------------
_SECRET_PATTERNS = [
    r"sk-ant-[A-Za-z0-9_-]{20,}",  # Anthropic
    r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}",  # OpenAI
    r"gh[pousr]_[A-Za-z0-9]{36,}",  # GitHub tokens
    r"github_pat_[A-Za-z0-9_]{22,}",
    r"glpat-[A-Za-z0-9_-]{20,}",  # GitLab
    r"(?:AKIA|ASIA)[0-9A-Z]{16}",  # AWS access key id
    r"AIza[0-9A-Za-z_-]{35}",  # Google API key
    r"xox[abposr]-[A-Za-z0-9-]{10,}",  # Slack
    r"(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{16,}",  # Stripe secret / restricted keys
    r"hf_[A-Za-z0-9]{30,}",  # Hugging Face
    r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",  # JWT
    r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----[\s\S]*?(?:-----END (?:[A-Z]+ )?PRIVATE KEY-----|$)",
]
_SECRET = re.compile(r"(?<![A-Za-z0-9_-])(?:" + "|".join(_SECRET_PATTERNS) + r")(?![A-Za-z0-9_-])")
_ASSIGNED = re.compile(
    r"(?i)\b(?:api[_-]?key|secret(?:[_-]?key)?|access[_-]?token|auth[_-]?token|password|passwd|token)"
    r"\s*[:=]\s*['\"]?([^\s'\"]{12,})"
)


def _entropy(s: str) -> float:
    counts = {c: s.count(c) for c in set(s)}
    return -sum(n / len(s) * math.log2(n / len(s)) for n in counts.values())


def _random_looking(s: str) -> bool:
    classes = sum(bool(re.search(p, s)) for p in (r"[a-z]", r"[A-Z]", r"\d"))
    return classes >= 2 and _entropy(s) >= 3.5


def _secrets(text: str) -> Iterable[Finding]:
    for m in _SECRET.finditer(text):
        value = m.group()
        # a key's body is one long random run; "sk-learn-tutorial-for-beginners" is not a key
        structured = value.startswith(("-----BEGIN", "eyJ"))
        if structured or (re.search(r"[A-Za-z0-9]{16,}", value) and _random_looking(value)):
            yield Finding("secret", m.start(), m.end(), value, value)
    for m in _ASSIGNED.finditer(text):
        value = m.group(1)
        if _random_looking(value):
            yield Finding("secret", m.start(1), m.end(1), value, value)


_DIGIT = re.compile(r"\d")
_LONG_TOKEN = re.compile(r"[^\s'\"]{12,}")  # every key shape and assigned value is one
_IBAN_START = re.compile(r"[A-Z]{2}\d{2}")


# -- all together -----------------------------------------------------------------------------------
def detect(text: str, types: Iterable[str] = PII_TYPES, regions: list[str] | None = None) -> list[Finding]:
    """Every finding of the chosen ``types`` in ``text``, by position; overlaps resolved by kind."""
    wanted = set(types)
    found: list[Finding] = []
    # Cheap necessary conditions first: redaction runs on every string promptctl writes, and
    # most (reasons, ids, short outputs) cannot hold a finding of most kinds.
    digits = len(_DIGIT.findall(text))
    if "secret" in wanted and (_LONG_TOKEN.search(text) or "-----BEGIN" in text):
        found += _secrets(text)
    if "email" in wanted and "@" in text:
        found += _emails(text)
    if "iban" in wanted and digits >= 8 and _IBAN_START.search(text):
        found += _ibans(text)
    if "card" in wanted and digits >= 13:
        found += _cards(text)
    if "ip" in wanted and ((digits >= 4 and "." in text) or text.count(":") >= 2):
        found += _ips(text)
    if "phone" in wanted and digits >= 4:  # no valid number has fewer digits
        found += _phones(text, regions or [DEFAULT_REGION])
    kept: list[Finding] = []
    for f in sorted(found, key=lambda f: (_PRIORITY[f.type], f.start, -f.end)):
        if not any(f.start < k.end and k.start < f.end for k in kept):
            kept.append(f)
    return sorted(kept, key=lambda f: f.start)


def normalize(kind: str, value: str, regions: list[str]) -> set[str]:
    """The forms an ``allow`` value is compared in (a phone number per region)."""
    if kind == "email":
        return {value.strip().lower()}
    if kind in ("card", "iban"):
        return {re.sub(r"[\s-]", "", value).upper()}
    if kind == "ip":
        try:
            return {str(ipaddress.ip_address(value.strip()))}
        except ValueError:
            return {value.strip()}
    if kind == "phone":
        import phonenumbers

        out = set()
        for region in regions:
            try:
                num = phonenumbers.parse(value, region)
            except phonenumbers.NumberParseException:
                continue
            out.add(phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164))
        return out
    return {value.strip()}


def mask(kind: str, text: str) -> str:
    """A finding as a reason may show it: enough to locate it, not enough to reuse it."""
    if kind == "email":
        local, _, domain = text.partition("@")
        name, _, tld = domain.rpartition(".")
        return f"{local[:1]}***@{name[:1]}***.{tld}"
    if kind in ("card", "phone"):
        digits = re.sub(r"\D", "", text)
        return f"***{digits[-4:]}" if len(digits) > 4 else "***"
    if kind == "iban":
        return text.replace(" ", "")[:2] + "**…" + text.replace(" ", "")[-2:]
    if kind == "ip":
        return text.split(".")[0] + ".***" if "." in text else text.split(":")[0] + ":***"
    return text[:4] + "…" if len(text) > 8 else "***"


def allowed_forms(values: Iterable[str], types: Iterable[str], regions: list[str]) -> set[str]:
    """Every normalised form of the ``allow`` values, for each kind in ``types``."""
    kinds = list(types)
    out: set[str] = set()
    for value in values:
        for kind in kinds:
            out |= normalize(kind, value, regions)
    return out


def unknown_regions(regions: Iterable[str]) -> list[str]:
    """The codes in ``regions`` that phonenumbers does not know (upper-cased)."""
    import phonenumbers

    return [r.upper() for r in regions if r.upper() not in phonenumbers.SUPPORTED_REGIONS]
