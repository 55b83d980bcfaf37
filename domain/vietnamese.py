"""Vietnamese text: search without diacritics, and the Vietnamese order of names."""

from __future__ import annotations

import unicodedata

# The Vietnamese alphabet in its order; each letter may carry one of five tone marks.
ALPHABET = "aăâbcdđeêghiklmnoôơpqrstuưvxy"
TONES = {"\u0300": 2, "\u0301": 3, "\u0303": 4, "\u0309": 5, "\u0323": 6}  # huyền sắc ngã hỏi nặng
# Traditional tone order: ngang, huyền, hỏi, ngã, sắc, nặng.
TONE_ORDER = {0: "0", 2: "1", 5: "2", 4: "3", 3: "4", 6: "5"}
_LETTER_RANK = {letter: f"{i:02d}" for i, letter in enumerate(ALPHABET)}


def fold(text: str) -> str:
    """Lower case without diacritics, for search: "Nguyễn Văn Đức" -> "nguyen van duc"."""
    decomposed = unicodedata.normalize("NFD", text.lower().replace("đ", "d").replace("Đ", "d"))
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.split())


def _letters(word: str) -> tuple[str, str]:
    """A word's letters (with their vowel marks) and its tone, as sortable strings."""
    primary, tone = [], 0
    for char in unicodedata.normalize("NFD", word.lower()):
        if char in TONES:
            tone = TONES[char]
            continue
        if unicodedata.combining(char) and primary:
            base = unicodedata.normalize("NFC", primary.pop() + char)
            primary.append(base)
            continue
        primary.append(char)
    letters = "".join(_LETTER_RANK.get(c, f"9{ord(c) % 10}") for c in primary)
    return letters, TONE_ORDER[tone]


def name_sort_key(full_name: str) -> str:
    """Sort key for names the Vietnamese way: given name first, then the middle names,
    then the family name; letters in the Vietnamese alphabet's order (a ă â … đ …), tone
    marks deciding only between otherwise equal names."""
    words = full_name.split()
    if not words:
        return ""
    ordered = [words[-1], *words[1:-1], words[0]] if len(words) > 1 else words
    keys = [_letters(w) for w in ordered]
    return " ".join(k[0] for k in keys) + "|" + "".join(k[1] for k in keys)
