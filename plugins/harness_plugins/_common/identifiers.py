"""French health identifiers: NIR/INS keys, RPPS/ADELI/FINESS Luhn keys, OID syntax.

Shared by the dmp, interop and portability families.
"""

from __future__ import annotations

import re

OID_INS_NIR = "1.2.250.1.213.1.4.8"
OID_INS_NIR_TEST = ("1.2.250.1.213.1.4.10", "1.2.250.1.213.1.4.11")
OID_RPPS = "1.2.250.1.71.4.2.1"
SYSTEM_INS_NIR = f"urn:oid:{OID_INS_NIR}"
SYSTEM_RPPS = f"urn:oid:{OID_RPPS}"

_NIR_RE = re.compile(r"^[1-478]\d{4}(\d{2}|2[AB])\d{6}$")
_OID_RE = re.compile(r"^[0-2](\.(0|[1-9]\d*))+$")
_UUID_RE = re.compile(r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$")


def nir_key(nir13: str) -> int:
    """The NIR key: 97 - (number mod 97), Corsica's 2A/2B read as 19/18 (INSEE rule)."""
    value = nir13.upper()
    if value[5:7] == "2A":
        number = int(value[:5] + "19" + value[7:])
    elif value[5:7] == "2B":
        number = int(value[:5] + "18" + value[7:])
    else:
        number = int(value)
    return 97 - (number % 97)


def check_nir(value: str) -> str | None:
    """None when ``value`` is a valid 15-character NIR (13 + key); else the reason it is not."""
    value = value.replace(" ", "").upper()
    if len(value) != 15:
        return f"NIR must have 15 characters (13 + 2-digit key), has {len(value)}"
    body, key = value[:13], value[13:]
    if not _NIR_RE.match(body):
        return "NIR body is not 13 digits in the INSEE layout (sex, year, month, department incl. 2A/2B, commune, order)"
    if not key.isdigit():
        return "NIR key is not two digits"
    expected = nir_key(body)
    if int(key) != expected:
        return f"NIR key {key} is wrong (expected {expected:02d})"
    return None


def luhn_digit(body: str) -> str:
    """The Luhn check digit to append to ``body`` (to build RPPS/FINESS test identifiers)."""
    total = 0
    for index, char in enumerate(reversed(body)):
        d = int(char)
        if index % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def luhn_ok(digits: str) -> bool:
    """Luhn checksum (RPPS 11 digits, FINESS 9 digits, SIREN 9 digits)."""
    if len(digits) < 2 or not digits.isdigit():
        return False
    return luhn_digit(digits[:-1]) == digits[-1]


def check_rpps(value: str) -> str | None:
    """None for a valid RPPS (11 digits, Luhn key); else the reason.

    In CDA/FHIR the RPPS is often carried with its type prefix ``8`` (``8`` + 11 digits).
    """
    digits = value[1:] if len(value) == 12 and value.startswith("8") else value
    if len(digits) != 11 or not digits.isdigit():
        return f"RPPS must be 11 digits (optionally prefixed with 8), got {value!r}"
    if not luhn_ok(digits):
        return f"RPPS {value} fails its Luhn key"
    return None


def check_finess(value: str) -> str | None:
    if len(value) != 9 or not value[:2].isalnum() or not value[2:].isdigit():
        return f"FINESS must be 9 characters, got {value!r}"
    digits = value.replace("2A", "20").replace("2B", "20")
    if not luhn_ok(digits):
        return f"FINESS {value} fails its Luhn key"
    return None


def is_oid(value: str) -> bool:
    return bool(_OID_RE.match(value))


def is_uuid(value: str) -> bool:
    return bool(_UUID_RE.match(value))
