"""Property lists of Snowflake's account-object DDL (`KEY = value KEY2 = (a, b) ...`), parsed and checked
value by value for the local warehouse (helpers/local_cloud/account_objects.py). A property the local
warehouse does not know is refused, naming it - never ignored."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable
from typing import Any

from helpers.local_cloud.warehouse_sql import ProgrammingError, ident, not_supported

Token = tuple[str, Any]  # ("str", text) | ("qid", '"Name"') | ("word", WORD) | ("punct", "=") | ("list", [tokens])

_TOKEN = re.compile(
    r"""\s*(?:(?P<str>'(?:[^']|'')*')|(?P<qid>"(?:[^"]|"")+")|(?P<punct>[=(),])|(?P<word>[^\s=(),'"]+))"""
)


def syntax_error(near: str) -> ProgrammingError:
    return ProgrammingError(
        msg=f"SQL compilation error:\nsyntax error near '{near[:40]}'", errno=1003, sqlstate="42000"
    )


def invalid_value(key: str, value: Any) -> ProgrammingError:
    return ProgrammingError(
        msg=f"SQL compilation error:\ninvalid value [{value}] for parameter '{key}'", errno=1008, sqlstate="22023"
    )


def tokens(text: str) -> list[Token]:
    out: list[Token] = []
    pos, text = 0, text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            if not text[pos:].strip():
                break
            raise syntax_error(text[pos:])
        kind = m.lastgroup or ""
        value = m.group(kind)
        out.append((kind, value[1:-1].replace("''", "'") if kind == "str" else value))
        pos = m.end()
    return out


def properties(toks: list[Token]) -> list[tuple[str, Token]]:
    """`KEY = value` pairs; a value is a string, a word, a quoted name or a parenthesised list."""
    props: list[tuple[str, Token]] = []
    i = 0
    while i < len(toks):
        kind, key = toks[i]
        if kind != "word" or i + 2 >= len(toks) or toks[i + 1] != ("punct", "="):
            raise syntax_error(str(key))
        kind, value = toks[i + 2]
        i += 3
        if (kind, value) == ("punct", "("):
            items = []
            while i < len(toks) and toks[i] != ("punct", ")"):
                if toks[i] != ("punct", ","):
                    items.append(toks[i])
                i += 1
            if i >= len(toks):
                raise syntax_error(str(key))
            i += 1
            props.append((key.upper(), ("list", items)))
        elif kind == "punct":
            raise syntax_error(str(value))
        else:
            props.append((key.upper(), (kind, value)))
    return props


Converter = Callable[[str, Token], Any]


def parse(text_or_tokens: str | list[Token], spec: dict[str, Converter], what: str) -> dict[str, Any]:
    """Properties checked against `spec` (name -> converter); anything else is refused, naming it."""
    toks = tokens(text_or_tokens) if isinstance(text_or_tokens, str) else text_or_tokens
    out: dict[str, Any] = {}
    for key, value in properties(toks):
        if key not in spec:
            raise not_supported(f"{what} property {key}")
        out[key] = spec[key](key, value)
    return out


# -- converters ----------------------------------------------------------------------------------
def text(key: str, v: Token) -> str:
    if v[0] != "str":
        raise invalid_value(key, v[1])
    return v[1]


def word(key: str, v: Token) -> str:
    if v[0] not in ("word", "str"):
        raise invalid_value(key, v[1])
    return str(v[1]).upper()


def name(key: str, v: Token) -> str:
    if v[0] == "str":
        return v[1]
    if v[0] in ("word", "qid"):
        return ident(v[1])
    raise invalid_value(key, v[1])


def boolean(key: str, v: Token) -> bool:
    value = str(v[1]).upper() if v[0] in ("word", "str") else ""
    if value not in ("TRUE", "FALSE"):
        raise invalid_value(key, v[1])
    return value == "TRUE"


def seconds(key: str, v: Token) -> int | None:
    value = str(v[1]).upper()
    if v[0] == "word" and value == "NULL":
        return None
    if v[0] != "word" or not value.isdigit():
        raise invalid_value(key, v[1])
    return int(value)


def number(key: str, v: Token) -> float:
    try:
        value = float(v[1]) if v[0] == "word" else -1.0
    except ValueError:
        value = -1.0
    if value <= 0:
        raise invalid_value(key, v[1])
    return value


def choice(*allowed: str) -> Converter:
    def convert(key: str, v: Token) -> str:
        value = word(key, v)
        if value not in allowed:
            raise invalid_value(key, v[1])
        return value

    return convert


def names(key: str, v: Token) -> list[str]:
    if v[0] != "list":
        raise invalid_value(key, v[1])
    return [name(key, item) for item in v[1]]


def words(key: str, v: Token) -> list[str]:
    if v[0] != "list":
        raise invalid_value(key, v[1])
    return [word(key, item) for item in v[1]]


# WAREHOUSE_SIZE: the values CREATE WAREHOUSE accepts -> how SHOW WAREHOUSES reports them
# (https://docs.snowflake.com/en/sql-reference/sql/create-warehouse)
_SIZES = {
    "XSMALL": "X-Small",
    "X-SMALL": "X-Small",
    "SMALL": "Small",
    "MEDIUM": "Medium",
    "LARGE": "Large",
    "XLARGE": "X-Large",
    "X-LARGE": "X-Large",
    "XXLARGE": "2X-Large",
    "X2LARGE": "2X-Large",
    "2X-LARGE": "2X-Large",
    "XXXLARGE": "3X-Large",
    "X3LARGE": "3X-Large",
    "3X-LARGE": "3X-Large",
    "X4LARGE": "4X-Large",
    "4X-LARGE": "4X-Large",
    "X5LARGE": "5X-Large",
    "5X-LARGE": "5X-Large",
    "X6LARGE": "6X-Large",
    "6X-LARGE": "6X-Large",
}


def warehouse_size(key: str, v: Token) -> str:
    value = word(key, v)
    if value not in _SIZES:
        raise invalid_value(key, v[1])
    return _SIZES[value]


def rsa_public_key(key: str, v: Token) -> str:
    """The key's base64 DER body (Snowflake: "Exclude the public key delimiters"), checked to be an RSA
    public key (https://docs.snowflake.com/en/user-guide/key-pair-auth)."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    body = "".join(text(key, v).split())
    try:
        if not isinstance(load_der_public_key(base64.b64decode(body, validate=True)), rsa.RSAPublicKey):
            raise ValueError("not RSA")
    except (ValueError, binascii.Error, TypeError):
        raise ProgrammingError(
            msg=f"SQL compilation error:\nInvalid {key}: not a base64 DER RSA public key (without the "
            "-----BEGIN PUBLIC KEY----- lines)",
            errno=1008,
            sqlstate="22023",
        ) from None
    return body


def rsa_fingerprint(body: str) -> str:
    """RSA_PUBLIC_KEY_FP as DESC USER shows it: SHA256 of the DER key, base64."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(base64.b64decode(body)).digest()).decode()


# -- the property lists, per object (Snowflake's CREATE <object> pages) ------------------------
ROLE = {"COMMENT": text}
WAREHOUSE = {
    "WAREHOUSE_SIZE": warehouse_size,
    "WAREHOUSE_TYPE": choice("STANDARD", "SNOWPARK-OPTIMIZED"),
    "AUTO_SUSPEND": seconds,
    "AUTO_RESUME": boolean,
    "INITIALLY_SUSPENDED": boolean,
    "RESOURCE_MONITOR": name,
    "COMMENT": text,
}
RESOURCE_MONITOR = {
    "CREDIT_QUOTA": number,
    "FREQUENCY": choice("MONTHLY", "DAILY", "WEEKLY", "YEARLY", "NEVER"),
    "START_TIMESTAMP": lambda key, v: "IMMEDIATELY" if word(key, v) == "IMMEDIATELY" else text(key, v),
    "END_TIMESTAMP": text,
    "NOTIFY_USERS": names,
}
USER = {
    "TYPE": choice("PERSON", "SERVICE", "LEGACY_SERVICE", "NULL"),
    "LOGIN_NAME": name,
    "DISPLAY_NAME": name,
    "FIRST_NAME": name,
    "MIDDLE_NAME": name,
    "LAST_NAME": name,
    "EMAIL": text,
    "COMMENT": text,
    "DISABLED": boolean,
    "PASSWORD": text,
    "MUST_CHANGE_PASSWORD": boolean,
    "MINS_TO_BYPASS_MFA": seconds,
    "DEFAULT_WAREHOUSE": name,
    "DEFAULT_NAMESPACE": name,
    "DEFAULT_ROLE": name,
    "DEFAULT_SECONDARY_ROLES": words,
    "RSA_PUBLIC_KEY": rsa_public_key,
    "RSA_PUBLIC_KEY_2": rsa_public_key,
}
# "users with the TYPE property set to SERVICE ... cannot have the following properties"
# (https://docs.snowflake.com/en/user-guide/admin-user-management#types-of-users)
NOT_FOR_SERVICE_USERS = (
    "FIRST_NAME",
    "MIDDLE_NAME",
    "LAST_NAME",
    "PASSWORD",
    "MUST_CHANGE_PASSWORD",
    "MINS_TO_BYPASS_MFA",
)


def triggers(toks: list[Token]) -> list[tuple[int, str]]:
    """`ON 80 PERCENT DO NOTIFY ON 100 PERCENT DO SUSPEND ...` -> [(80, "NOTIFY"), (100, "SUSPEND")].
    Snowflake: at most one SUSPEND and one SUSPEND_IMMEDIATE, up to five NOTIFY
    (https://docs.snowflake.com/en/sql-reference/sql/create-resource-monitor)."""
    out = []
    words = [str(v).upper() for _, v in toks]
    if any(kind != "word" for kind, _ in toks) or len(words) % 5:
        raise syntax_error(" ".join(words))
    for i in range(0, len(words), 5):
        on, percent, unit, do, action = words[i : i + 5]
        if on != "ON" or unit != "PERCENT" or do != "DO" or not percent.isdigit():
            raise syntax_error(" ".join(words[i : i + 5]))
        if action not in ("NOTIFY", "SUSPEND", "SUSPEND_IMMEDIATE"):
            raise invalid_value("TRIGGERS", action)
        out.append((int(percent), action))
    actions = [a for _, a in out]
    if actions.count("SUSPEND") > 1 or actions.count("SUSPEND_IMMEDIATE") > 1 or actions.count("NOTIFY") > 5:
        raise ProgrammingError(
            msg="SQL compilation error:\na resource monitor has at most one SUSPEND, one SUSPEND_IMMEDIATE and five "
            "NOTIFY triggers",
            errno=1008,
            sqlstate="22023",
        )
    return sorted(out)


def split_triggers(toks: list[Token]) -> tuple[list[Token], list[Token] | None]:
    """Property tokens before TRIGGERS, and the trigger tokens (None when there is no TRIGGERS)."""
    for i, (kind, value) in enumerate(toks):
        if kind == "word" and str(value).upper() == "TRIGGERS":
            return toks[:i], toks[i + 1 :]
    return toks, None
