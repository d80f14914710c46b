"""Key shares: commitments, the human-copyable share code and the JSON share file.

Share code (what a custodian copies or types)::

    2-7XK3Q-M0PAC-...-W4ZN8      index, then 8 groups of 5 characters

The 32 data characters are Crockford base32 (digits and letters without I, L, O, U;
typing is case-insensitive and I/L are read as 1, O as 0) of the 16-byte share
followed by a 4-byte checksum over (index, share). Each group ends with one check
character (weighted sum mod 32, odd weights), so any single mistyped character is
located ("group 3"); the overall checksum catches a wrong index and anything a group
check misses (e.g. some swaps).

Share file: JSON ``{"format": "canal-key-share", "version": 1, "index": .., "code": ..,
"threshold": .., "custodians": .., "key_fingerprint": ..}``; only ``format``, ``index``
and ``code`` are required.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from procurement.sealing.errors import InvalidShareCode, WrongShare

__all__ = [
    "KeyShare",
    "share_commitment",
    "check_share",
    "encode_share_code",
    "parse_share",
    "share_file_json",
    "SHARE_LEN",
    "MAX_INDEX",
]

SHARE_LEN = 16
MAX_INDEX = 255
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32
_VALUES = {ch: i for i, ch in enumerate(_ALPHABET)}
_ALIASES = {"I": "1", "L": "1", "O": "0"}
_CHECKSUM_LEN = 4
_DATA_CHARS = (SHARE_LEN + _CHECKSUM_LEN) * 8 // 5  # 32
_GROUP_DATA = 4
_GROUPS = _DATA_CHARS // _GROUP_DATA  # 8
_FILE_FORMAT = "canal-key-share"


@dataclass(frozen=True)
class KeyShare:
    """One Shamir share of a tender's KEK. `value` is secret and kept out of repr."""

    index: int
    value: bytes = field(repr=False)
    key_fingerprint: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.index, int) or not 1 <= self.index <= MAX_INDEX:
            raise InvalidShareCode(f"A share index must be between 1 and {MAX_INDEX}.")
        if not isinstance(self.value, bytes) or len(self.value) != SHARE_LEN:
            raise InvalidShareCode(f"A share must be {SHARE_LEN} bytes.")

    @property
    def code(self) -> str:
        return encode_share_code(self.index, self.value)

    def as_tuple(self) -> tuple[int, bytes]:
        return (self.index, self.value)


def share_commitment(index: int, value: bytes) -> str:
    """Public commitment of a share: SHA-256 hex of index (1 byte) || share bytes."""
    return hashlib.sha256(bytes([index]) + value).hexdigest()


def check_share(share: KeyShare, commitments: Sequence[str], *, position: int | None = None) -> int:
    """Check a share against the tender's commitments (commitments[i - 1] is share i's).

    Returns the share's index; raises WrongShare naming the index (and the position in
    the caller's list, when given) if it does not match.
    """
    where = f" (share #{position})" if position is not None else ""
    if not 1 <= share.index <= len(commitments):
        raise WrongShare(
            f"Share {share.index}{where} does not belong to this tender: only shares 1 to {len(commitments)} exist.",
            index=share.index,
            position=position,
        )
    expected = str(commitments[share.index - 1]).lower()
    if not hmac.compare_digest(share_commitment(share.index, share.value), expected):
        raise WrongShare(
            f"Share {share.index}{where} does not match its commitment: it is wrong or from another tender.",
            index=share.index,
            position=position,
        )
    return share.index


# --- share code -------------------------------------------------------------------


def _checksum(index: int, value: bytes) -> bytes:
    return hashlib.sha256(b"canal-share-v1\x00" + bytes([index]) + value).digest()[:_CHECKSUM_LEN]


def _group_check(group_no: int, chars: str) -> str:
    """Weighted sum mod 32 with odd weights: any single changed character is caught."""
    total = 5 * group_no + sum((2 * i + 1) * _VALUES[ch] for i, ch in enumerate(chars))
    return _ALPHABET[total % 32]


def _b32encode(data: bytes) -> str:
    bits = int.from_bytes(data, "big")
    count = len(data) * 8 // 5
    return "".join(_ALPHABET[(bits >> (5 * (count - 1 - i))) & 31] for i in range(count))


def _b32decode(chars: str) -> bytes:
    bits = 0
    for ch in chars:
        bits = (bits << 5) | _VALUES[ch]
    return bits.to_bytes(len(chars) * 5 // 8, "big")


def encode_share_code(index: int, value: bytes) -> str:
    """The human-copyable code of a share (see the module docstring)."""
    data = _b32encode(value + _checksum(index, value))
    groups = []
    for g in range(_GROUPS):
        chunk = data[g * _GROUP_DATA : (g + 1) * _GROUP_DATA]
        groups.append(chunk + _group_check(g + 1, chunk))
    return f"{index}-" + "-".join(groups)


def share_file_json(
    share: KeyShare, *, threshold: int | None = None, custodians: int | None = None, key_fingerprint: str | None = None
) -> str:
    """The share as a downloadable JSON file (pretty-printed, UTF-8 text)."""
    doc: dict[str, object] = {"format": _FILE_FORMAT, "version": 1, "index": share.index, "code": share.code}
    if threshold is not None:
        doc["threshold"] = threshold
    if custodians is not None:
        doc["custodians"] = custodians
    fingerprint = key_fingerprint or share.key_fingerprint
    if fingerprint:
        doc["key_fingerprint"] = fingerprint
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


_CODE_RE = re.compile(r"^\s*(\d{1,3})\s*[-:]\s*(.+?)\s*$", re.S)


def _parse_code(text: str, *, key_fingerprint: str | None = None) -> KeyShare:
    match = _CODE_RE.match(text)
    if not match:
        raise InvalidShareCode("A share code starts with its number and a dash, like '2-7XK3Q-...'.")
    index = int(match.group(1))
    if not 1 <= index <= MAX_INDEX:
        raise InvalidShareCode(f"Share number {index} is out of range (1 to {MAX_INDEX}).")
    raw = re.sub(r"[\s\-]", "", match.group(2)).upper()
    raw = "".join(_ALIASES.get(ch, ch) for ch in raw)
    for pos, ch in enumerate(raw, start=1):
        if ch not in _VALUES:
            raise InvalidShareCode(f"Character {pos} after the share number ('{ch}') is not allowed in a share code.")
    expected_len = _GROUPS * (_GROUP_DATA + 1)
    if len(raw) != expected_len:
        raise InvalidShareCode(
            f"The share code has {len(raw)} characters after the share number; {expected_len} are expected "
            f"({_GROUPS} groups of {_GROUP_DATA + 1})."
        )
    data = []
    for g in range(_GROUPS):
        group = raw[g * (_GROUP_DATA + 1) : (g + 1) * (_GROUP_DATA + 1)]
        chunk, check = group[:_GROUP_DATA], group[_GROUP_DATA]
        if _group_check(g + 1, chunk) != check:
            raise InvalidShareCode(f"Group {g + 1} of the share code ('{group}') has a typo.")
        data.append(chunk)
    decoded = _b32decode("".join(data))
    value, checksum = decoded[:SHARE_LEN], decoded[SHARE_LEN:]
    if not hmac.compare_digest(_checksum(index, value), checksum):
        raise InvalidShareCode(
            f"The share code does not check out for share number {index}: check the number before the first dash."
        )
    return KeyShare(index=index, value=value, key_fingerprint=key_fingerprint)


def _parse_file(text: str) -> KeyShare:
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise InvalidShareCode("The share file is not valid JSON.") from exc
    if not isinstance(doc, dict) or doc.get("format") != _FILE_FORMAT:
        raise InvalidShareCode("The file is not a Canal key share file.")
    if doc.get("version", 1) != 1:
        raise InvalidShareCode(f"Unsupported share file version {doc.get('version')!r}.")
    code, index = doc.get("code"), doc.get("index")
    if not isinstance(code, str) or not isinstance(index, int) or isinstance(index, bool):
        raise InvalidShareCode("The share file lacks its 'index' or 'code'.")
    fingerprint = doc.get("key_fingerprint")
    share = _parse_code(code, key_fingerprint=fingerprint if isinstance(fingerprint, str) else None)
    if share.index != index:
        raise InvalidShareCode(f"The share file says index {index} but its code is for share {share.index}.")
    return share


def parse_share(text: str | bytes) -> KeyShare:
    """Parse a share from a typed/pasted code or from the JSON share file's content."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidShareCode("The share file is not UTF-8 text.") from exc
    if not isinstance(text, str) or not text.strip():
        raise InvalidShareCode("No share code was given.")
    if text.lstrip().startswith("{"):
        return _parse_file(text)
    return _parse_code(text)
