"""Look for card data in text we keep: a database dump, a log, broker messages.

- `luhn_numbers(text)`: every Luhn-valid 13-19 digit number, written plain
  ("4111111111111111") or in groups as people type it ("4111 1111 1111 1111",
  "3782-822463-10005"). This finds card numbers nobody told the test about.
- `secret_hits(text, numbers=..., codes=...)`: the card numbers and security codes a test
  typed, wherever they are (numbers with or without separators, codes as whole numbers).

A number counts only where it is not glued to letters or digits: random hexadecimal
identifiers (gateway tokens and references, password hashes) contain runs of 13 or more
decimal digits by chance often enough (about one identifier in a thousand is a
Luhn-valid hit) to make a test flaky, while a card number that is stored or logged as such
stands between spaces, punctuation, quotes or tabs. The numbers a test typed are also
looked for glued to anything.

Security codes are 3 or 4 digits, so any row id, count or sequence value can equal one.
`security_code_pick` chooses codes that nothing in the scanned text can be mistaken for.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

_NOT_ALNUM_BEFORE = r"(?<![0-9A-Za-z])"
_NOT_ALNUM_AFTER = r"(?![0-9A-Za-z])"
# A plain run, or groups of 3-8 digits joined by one space or dash ("2025-06-01" breaks
# at its 2-digit groups, so dates do not chain into card-length numbers).
_CANDIDATE = re.compile(_NOT_ALNUM_BEFORE + r"\d{3,19}(?:[ -]\d{3,8})*" + _NOT_ALNUM_AFTER)
_SEPARATOR = re.compile(r"[ -]")


def luhn_valid(number: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(number)):
        digit = int(char)
        if position % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def luhn_numbers(text: str) -> list[str]:
    """Every Luhn-valid 13-19 digit number in `text`, with a little context each."""
    hits = []
    for match in _CANDIDATE.finditer(text):
        groups = _SEPARATOR.split(match.group())
        # Any run of consecutive groups may be the number ("12 4111 1111 1111 1111").
        for first in range(len(groups)):
            for last in range(first, len(groups)):
                digits = "".join(groups[first : last + 1])
                if len(digits) > 19:
                    break
                if len(digits) >= 13 and luhn_valid(digits):
                    hits.append(_context(text, match.start(), match.end()))
    return hits


def secret_hits(text: str, *, numbers: Iterable[str] = (), codes: Iterable[str] = ()) -> list[str]:
    """Where the given card numbers (anywhere, any spacing) and security codes (as whole
    numbers) occur in `text`, with a little context each."""
    hits = []
    for number in numbers:
        digits = re.sub(r"\D", "", number)
        pattern = r"[ -]?".join(digits)
        hits += [_context(text, m.start(), m.end()) for m in re.finditer(pattern, text)]
    for code in codes:
        pattern = _NOT_ALNUM_BEFORE + re.escape(code) + _NOT_ALNUM_AFTER
        hits += [_context(text, m.start(), m.end()) for m in re.finditer(pattern, text)]
    return hits


def whole_numbers(text: str) -> set[int]:
    """The numbers standing alone in `text` (not glued to letters or digits)."""
    pattern = _NOT_ALNUM_BEFORE + r"\d{1,9}" + _NOT_ALNUM_AFTER
    return {int(match) for match in re.findall(pattern, text)}


def security_code_pick(*, digits: int, avoid: Iterable[int], preferred: Sequence[str]) -> str:
    """The first preferred code (else the first code of that many digits) that is none of
    the numbers in `avoid`, so that finding it later can only mean it leaked."""
    avoid = set(avoid)
    fallback = (f"{value:0{digits}d}" for value in range(10 ** (digits - 1), 10**digits))
    for code in (*preferred, *fallback):
        if len(code) == digits and int(code) not in avoid:
            return code
    raise AssertionError(f"Every {digits}-digit security code is in use in the scanned text.")


def _context(text: str, start: int, end: int, width: int = 40) -> str:
    return text[max(0, start - width) : end + width].replace("\n", "\\n")
