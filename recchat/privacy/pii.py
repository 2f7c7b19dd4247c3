"""Finding and masking personal data in text.

    mask_pii("mail me at jo@example.org or call +44 20 7946 0958")
    # MaskResult(text='mail me at [email] or call [phone]', counts={'email': 1, 'phone': 1})

**Masking** replaces e-mail addresses, phone numbers, postal addresses, card numbers and IBANs
by ``[email]``, ``[phone]``, ``[address]``, ``[card]`` and ``[iban]``. It runs at each boundary
personal data could cross: a chat message before the session reads or keeps it
(recchat.conversation.chat), every string rendered into an LLM prompt (recchat.templates), a profile before
it is cached (recchat.conversation.profile), a saved conversation (recchat.conversation.sessions) and the debug
prompt log (recchat.privacy.prompt_log). What it deliberately leaves alone, because catalogs and chats are full
of numbers:

- years, decades, counts, ranges and ratings ("1996", "the 90s", "under 300 pages", "4/5");
- titles with numbers ("Apollo 13", "2001: A Space Odyssey", "Se7en", "12 Angry Men",
  "Miracle on 34th Street": an ordinal street number is a title, not an address);
- item ids and ISBNs: an ISBN names an edition of a book, not a person, so a 13-digit number
  starting 978/979 is never a card and a number right after "ISBN" is never a phone or card;
- a bare run of digits ("5551234567") is a phone number only after a word such as "call",
  "phone", "mobile" or "number"; a formatted one ("555-123-4567", "020 7946 0958", "+33 1 23
  45 67 89") is one anywhere;
- a card number must pass the Luhn check, an IBAN the ISO 7064 mod-97 check;
- a postal address needs a house number, a capitalised street name and a street type ("221B
  Baker Street", "1600 Pennsylvania Avenue NW"), or a PO box; a postcode or ZIP code is masked
  only when it follows such an address. In lower case ("12 baker street") an address is
  recognised only after "live at", "address", "ship to" and the like.

**A catalog's own titles.** A title such as "10 Cloverfield Lane" looks like an address. The
titles of a catalog that would be masked are its :class:`TitleExemptions` (a value its
Recommender holds, built with :meth:`TitleExemptions.of`); they apply where they are passed
(``exempt=``) or inside :func:`exempting`, a scope that ends with its block, so one catalog's
titles never widen what another recommender in the same process leaves unmasked.

Every pattern has bounded repetition and starts only at a token boundary, so masking is linear
in the text's length (``bench/privacy.py`` measures it).
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NamedTuple

KINDS = ("email", "iban", "card", "address", "phone")  # also the order in which overlaps are won
TOKENS = {kind: f"[{kind}]" for kind in KINDS}

# -- detectors ------------------------------------------------------------------------------
# Each pattern starts only where a token starts (a look-behind), and every repetition is
# bounded, so no input makes Python's backtracking engine go quadratic.

_EMAIL = re.compile(
    r"(?<![\w.%+'-])[A-Za-z0-9][A-Za-z0-9._%+'-]{0,63}"
    r"(?:@|\s?[\[(]at[\])]\s?)"  # jo@x, jo [at] x, jo(at)x
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.|\s?[\[(]dot[\])]\s?)){1,8}"
    r"[A-Za-z]{2,24}(?![\w-])",
    re.IGNORECASE,
)
# "jo dot smith at gmail dot com": only with a common provider's top-level domain.
_EMAIL_SPOKEN = re.compile(
    r"(?<![\w.-])[A-Za-z0-9]{1,32}(?:\s(?:dot|underscore)\s[A-Za-z0-9]{1,32}){0,3}\sat\s"
    r"[A-Za-z0-9-]{1,40}(?:\sdot\s[A-Za-z0-9-]{1,40}){0,3}\sdot\s(?:com|org|net|edu|gov|io|co|uk|de|fr|nl)\b",
    re.IGNORECASE,
)

_DIGIT = re.compile(r"\d")
_DIGITS = re.compile(r"\d+")
_NUMBER_START = re.compile(r"(?<![\w.,/-])[\d(+]")  # where a card, phone or numbered address may start
_IBAN_HINT = re.compile(r"[A-Za-z]{2}\d\d")
_IBAN_GROUP = re.compile(r"[A-Za-z0-9]+")
_AT_BRACKET = re.compile(r"[\[(]at[\])]", re.IGNORECASE)
_SPOKEN_DOT = re.compile(r"\sdot\s", re.IGNORECASE)

# The countries that use IBANs (ISO 13616 registry): the first two letters must be one of them.
_IBAN_COUNTRIES = frozenset(
    "AD AE AL AT AZ BA BE BG BH BI BR BY CH CR CY CZ DE DJ DK DO EE EG ES FI FK FO FR GB GE GI GL GR GT HN HR HU "
    "IE IL IQ IS IT JO KW KZ LB LC LI LT LU LV LY MC MD ME MK MN MR MT MU NI NL NO OM PK PL PS PT QA RO RS RU SA "
    "SC SD SE SI SK SM SO ST SV TL TN TR UA VA VG XK YE".split()
)
_IBAN = re.compile(r"(?<![\w-])[A-Z]{2}\d{2}(?:\s?[A-Z0-9]{4}){2,7}(?:\s?[A-Z0-9]{1,4})?(?![\w-])", re.IGNORECASE)

# Groups of two or more digits (4111 1111 1111 1111, 3782 822463 10005, or one run); no card
# number starts with 0.
_CARD = re.compile(r"(?<![\w.,/-])[1-9]\d{1,18}(?:[ -]\d{2,19}){0,6}(?![\w-]|[.,/]\d)")

# A phone number: an optional + (or 00), then groups of digits with single separators between them.
_PHONE = re.compile(
    r"(?<![\w+/.,:-])(?:(?P<plus>\+|\b00)[ ]?)?"
    r"(?:\(\d{1,5}\)|\d{1,12})"
    r"(?:(?:[ .-]|\)\s?|\s?\(0\)\s?|\s\()\d{1,10}\)?){0,7}"
    r"(?![\w-]|[.,/]\d)"
)
# Words after which a bare run of 7-15 digits is a phone number ("call", "calling", "phone no."...).
_PHONE_CUES = tuple("call phone ph tel mobile cell text txt whats sms number ring fax contact reach".split())
_PHONE_WORDS = re.compile(rf"\b(?:{'|'.join(_PHONE_CUES)})\w*\b[^!?\n]{{0,24}}$", re.IGNORECASE)
_ISBN_BEFORE = re.compile(r"\bISBN(?:-1[03])?:?\s*$", re.IGNORECASE)

_STREET_TYPES = (
    "Street|St|Avenue|Ave|Av|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|Square|Sq|Terrace|"
    "Terr|Way|Close|Crescent|Cres|Parkway|Pkwy|Highway|Hwy|Circle|Cir|Gardens|Grove|Row|Mews|Walk|Hill|Loop|"
    "Plaza|Trail|Trl|Alley|Broadway|Embankment|Parade|Quay|Wharf"
)
_POSTCODE = (
    r"(?:\d{5}(?:-\d{4})?"  # US ZIP, ZIP+4; most of Europe
    r"|[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}"  # UK
    r"|\d{4}\s?[A-Z]{2}|\d{4})(?![\w-])"
)  # Netherlands; 4-digit codes
# What may follow a street: a direction, a flat or suite, then a city, a state and a postcode
# (the city and state only together with the postcode).
_ADDRESS_TAIL = (
    r"(?:\s(?:N|S|E|W|NE|NW|SE|SW)\b)?"
    r"(?:,?\s(?:Apt|Apartment|Suite|Ste|Unit|Flat|Floor|Fl)\.?\s?#?[A-Za-z0-9-]{1,6}|,?\s#\d{1,5})?"
    rf"(?:,?\s(?:[A-Z][A-Za-z'-]{{1,20}},?\s){{0,3}}(?:[A-Z]{{2}},?\s)?{_POSTCODE})?"
)
_NAME_WORD = r"(?:[A-Z][A-Za-z'.-]{0,24}|\d{1,3}(?:st|nd|rd|th)|de|la|du|van|von|of|the)"
# House number (221, 221B, 12-14, 4/2), then 1-4 capitalised street-name words, then a street type.
_HOUSE = r"(?<![\w.,/-])\d{1,5}[A-Za-z]?(?:[-/]\d{1,5}[A-Za-z]?)?,?\s"
_ADDRESS = re.compile(rf"{_HOUSE}(?:{_NAME_WORD}\s){{1,4}}(?:{_STREET_TYPES})\b\.?" + _ADDRESS_TAIL)
# The same in any case (a superset: every _ADDRESS match starts where one of these does),
# trusted alone only right after words such as "live at" or "ship to".
_ADDRESS_ANY_CASE = re.compile(
    rf"{_HOUSE}(?:[A-Za-z'.-][A-Za-z0-9'.-]{{0,24}}\s|\d{{1,3}}(?:st|nd|rd|th)\s){{1,4}}"
    rf"(?:{_STREET_TYPES})\b\.?" + _ADDRESS_TAIL,
    re.IGNORECASE,
)
_ADDRESS_WORDS = re.compile(
    r"\b(?:live|living|lives|stay|staying|address|addr|ship|send|deliver|post|mail|located|based|at)\b"
    r"[^.!?\n]{0,24}$",
    re.IGNORECASE,
)
# French, Italian, Spanish: number, street type, name ("12 rue de la Paix, 75002 Paris").
_ADDRESS_TYPE_FIRST = re.compile(
    r"(?<![\w.,/-])\d{1,4}(?:\s?(?:bis|ter))?,?\s(?:rue|avenue|av\.|boulevard|bd|place|chemin|allée|impasse|quai|"
    r"via|viale|piazza|corso|calle|avenida|plaza|paseo)\s(?:(?:de|del|la|le|les|des|du|d'|della|di)\s?){0,2}"
    r"[A-Z][\w'-]{1,25}(?:\s[A-Z][\w'-]{1,25}){0,2}" + _ADDRESS_TAIL
)
# German, Dutch, Nordic, Spanish, Italian: name then number ("Hauptstraße 5, 10115 Berlin").
_ADDRESS_NUMBER_LAST = re.compile(
    r"(?<![\w-])(?:[A-Z][a-zäöüéèß]{1,25}(?:straße|strasse|str\.|weg|gasse|platz|allee|damm|laan|straat|gracht|"
    r"plein|kade|vej|gade|gatan|vägen)|(?:Calle|Via|Viale|Piazza|Avenida|Rua|Corso|Carrer|Paseo)\s"
    r"(?:(?:de|del|la|di|della|do|da)\s){0,2}[A-Z][\w'-]{1,25}(?:\s[A-Z][\w'-]{1,25}){0,2})"
    r"\s\d{1,4}[a-z]?\b(?:,?\s(?:\d{4,5}|\d{4}\s?[A-Z]{2})\s[A-Z][\w-]{1,25})?"
)
# Words without which the patterns below cannot match: a full pass only when one is there.
_TYPE_FIRST_HINTS = tuple(
    f"{w} "
    for w in "rue avenue av. boulevard bd place chemin allée impasse quai via viale piazza corso calle avenida plaza paseo".split()
)
_NUMBER_LAST_HINTS = tuple(
    f"{w} "
    for w in (
        "straße strasse str. weg gasse platz allee damm laan straat gracht plein kade vej gade gatan vägen "
        "calle via viale piazza avenida rua corso carrer paseo"
    ).split()
)
_PO_BOX = re.compile(
    r"(?<![\w-])(?:P\.?\s?O\.?\s?Box|Post\s+Office\s+Box|Postfach)\s?#?\d{1,6}\b" + _ADDRESS_TAIL, re.IGNORECASE
)
# A number right after these words is a count or a score, not a house number ("I'd rate 5 A Quiet Place").
_NOT_A_HOUSE = frozenset(
    "top rate rated rating give gave score scored watched seen saw read all first last only just about over under "
    "than and or the these those episode season part volume vol no number".split()
)


class PiiSpan(NamedTuple):
    kind: str
    start: int
    end: int


class MaskResult(NamedTuple):
    """The masked text and how many of each kind were masked (only kinds found)."""

    text: str
    counts: dict[str, int]


_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)  # a digit doubled, its two digits added (Luhn)


def _luhn(digits: str) -> bool:
    return (sum(map(int, digits[-1::-2])) + sum(_DOUBLED[int(d)] for d in digits[-2::-2])) % 10 == 0


_IBAN_LETTERS = {ord(ch): str(n) for n, ch in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZ", start=10)}


def _iban_valid(compact: str) -> bool:
    """ISO 7064 mod 97-10: the country and check digits moved to the end, letters as 10..35."""
    if not 15 <= len(compact) <= 34:
        return False
    return int((compact[4:] + compact[:4]).upper().translate(_IBAN_LETTERS)) % 97 == 1


class _Text:
    """The text being scanned, with what several detectors need computed once: where a number
    starts (the only places a card, a phone number or a numbered address can start), and the
    text in lower case (for cheap "is this word there at all" checks)."""

    def __init__(self, text: str):
        self.text = text
        self.number_starts = [m.start() for m in _NUMBER_START.finditer(text)]  # digits, "(" and "+"
        self.digit_starts = [p for p in self.number_starts if text[p].isdigit()]
        self.has_digit = bool(self.digit_starts) or _DIGIT.search(text) is not None
        self.lower = text.lower()

    def matches(self, pattern: re.Pattern[str], starts: list[int]) -> Iterator[re.Match[str]]:
        """What ``pattern.finditer`` finds, for a pattern that can only start at ``starts``:
        tried at those places alone, which is several times faster on long text."""
        after = 0
        for pos in starts:
            if pos >= after:
                m = pattern.match(self.text, pos)
                if m:
                    after = max(m.end(), pos + 1)
                    yield m


def _emails(t: _Text) -> Iterator[tuple[int, int]]:
    if "@" in t.text or _AT_BRACKET.search(t.text):
        yield from (m.span() for m in _EMAIL.finditer(t.text))
    if " dot " in t.lower and _SPOKEN_DOT.search(t.text):
        yield from (m.span() for m in _EMAIL_SPOKEN.finditer(t.text))


def _ibans(t: _Text) -> Iterator[tuple[int, int]]:
    if not _IBAN_HINT.search(t.text):
        return
    for m in _IBAN.finditer(t.text):
        raw = m.group()
        if raw[:2].upper() not in _IBAN_COUNTRIES:
            continue
        # The last groups may be a word after the IBAN: the longest run of groups that checks out.
        ends = sorted({g.end() for g in _IBAN_GROUP.finditer(raw)}, reverse=True)
        end = next((e for e in ends if _iban_valid(raw[:e].replace(" ", ""))), None)
        if end is not None:
            yield m.start(), m.start() + end


def _isbn_before(text: str, start: int) -> bool:
    before = text[max(0, start - 16) : start]
    return "ISBN" in before.upper() and _ISBN_BEFORE.search(before) is not None


def _cards(t: _Text) -> Iterator[tuple[int, int]]:
    for m in t.matches(_CARD, t.digit_starts):
        if _isbn_before(t.text, m.start()):
            continue
        # A number after the card (a CVV, a date) may have joined it: the most groups, as
        # written, that make 13-19 digits passing the Luhn check.
        runs = list(_DIGITS.finditer(m.group()))
        digits = "".join(r.group() for r in runs)
        if len(digits) == 13 and digits[:3] in ("978", "979"):
            continue  # an ISBN-13
        counts = [0]
        for r in runs:
            counts.append(counts[-1] + len(r.group()))
        for n in range(len(runs), 0, -1):
            if 13 <= counts[n] <= 19 and _luhn(digits[: counts[n]]):
                yield m.start(), m.start() + runs[n - 1].end()
                break


def _phone_form(groups: list[str], sizes: list[int], plus: bool, told: bool, parens: bool) -> bool:
    """Whether digit groups (as written, 7 to 15 digits) make a phone number; ``told``: a word
    such as "call" comes just before; ``parens``: an area code in parentheses."""
    if told:
        return True
    if plus:
        return sizes[-1] >= 2 and groups[0][0] != "0"  # no country code starts with 0
    if len(groups) < 2 or sizes[-1] < 2:
        return False  # a bare number, or an ISBN-10 / list ending in a single digit
    if groups[0][0] == "0":  # a national trunk prefix (UK, most of Europe)
        return 9 <= sum(sizes) <= 12 and min(sizes) >= 2
    # North America: (555) 123-4567, 555-123-4567, 1 800 555 0199
    return sizes == [3, 3, 4] or (sizes == [1, 3, 3, 4] and groups[0] == "1") or (parens and sum(sizes) == 10)


def _phone_cue(t: _Text, start: int) -> bool:
    """Whether a word such as "call" or "phone" comes just before ``start``."""
    window = t.lower[max(0, start - 40) : start]
    return (
        any(word in window for word in _PHONE_CUES)
        and _PHONE_WORDS.search(t.text, max(0, start - 40), start) is not None
    )


def _longest_phone(groups: list[str], plus: bool, told: bool, parens: bool) -> int | None:
    """How many of the leading digit groups make a phone number (the most), or None."""
    sizes = [len(g) for g in groups]
    digits = sum(sizes)
    for keep in range(len(groups), 0, -1):
        if digits < (8 if plus and not told else 7):
            return None  # fewer groups only have fewer digits
        if digits <= 15 and _phone_form(groups[:keep], sizes[:keep], plus, told, parens):
            return keep
        digits -= sizes[keep - 1]
    return None


def _phones(t: _Text) -> Iterator[tuple[int, int]]:
    text = t.text
    for m in t.matches(_PHONE, t.number_starts):
        if len(m.group()) < 7:
            continue  # too short for any phone number: most numbers in text stop here
        start = m.start()
        if _isbn_before(text, start):
            continue
        raw, plus = m.group(), bool(m.group("plus"))
        runs = list(_DIGITS.finditer(raw))
        if m.group("plus") == "00":
            runs = runs[1:]  # the international prefix, not part of the number
        # A group in parentheses is an area code: first (second after a country code), or "(0)";
        # later, it is something else ("Call Northside 777 (1948)").
        runs = next(
            (runs[:i] for i, r in enumerate(runs) if i > plus and raw[r.start() - 1] == "(" and r.group() != "0"), runs
        )
        groups = [r.group() for r in runs]
        parens = "(" in raw[: runs[-1].end()] if runs else False
        # Try the whole match, then without its trailing groups ("555 123 4567 20 times"); a
        # word such as "call" before it is looked for only when the form alone is not enough.
        keep = _longest_phone(groups, plus, False, parens)
        if keep is None and sum(map(len, groups)) >= 7 and _phone_cue(t, start):
            keep = _longest_phone(groups, plus, True, parens)
        if keep is not None:
            end = start + runs[keep - 1].end()
            yield start, end + (text[end : end + 1] == ")")


def _word_before(text: str, start: int) -> str:
    words = text[max(0, start - 16) : start].split()
    return words[-1].lower().rstrip(".") if words else ""


def _addresses(t: _Text) -> Iterator[tuple[int, int]]:
    text, after = t.text, 0
    for start in t.digit_starts:
        m = _ADDRESS_ANY_CASE.match(text, start) if start >= after else None
        if m is None:
            continue
        proper = _ADDRESS.match(text, start)
        if proper:
            span = proper.span() if _word_before(text, start) not in _NOT_A_HOUSE else None
        else:  # lower case: only a few words after "live at", "ship to"...
            span = m.span() if _ADDRESS_WORDS.search(text, max(0, start - 40), start) else None
        if span:  # a rejected match keeps its numbers open ("Flat 3, 27 Victoria Crescent")
            after = span[1]
            yield span
    if any(word in t.lower for word in _TYPE_FIRST_HINTS):
        for m in t.matches(_ADDRESS_TYPE_FIRST, t.digit_starts):
            if _word_before(text, m.start()) not in _NOT_A_HOUSE:
                yield m.span()
    if any(word in t.lower for word in _NUMBER_LAST_HINTS):
        yield from (m.span() for m in _ADDRESS_NUMBER_LAST.finditer(text))
    squeezed = t.lower.replace(" ", "").replace(".", "")
    if "pobox" in squeezed or "postofficebox" in squeezed or "postfach" in squeezed:
        yield from (m.span() for m in _PO_BOX.finditer(text))


_DETECTORS = {"email": _emails, "iban": _ibans, "card": _cards, "address": _addresses, "phone": _phones}


@dataclass(frozen=True)
class TitleExemptions:
    """The titles of one catalog that masking leaves alone, such as "10 Cloverfield Lane" or
    "84 Charing Cross Road": a film is not an address. A span is kept only when it lies wholly
    inside such a title written in the text; an address that goes on past it is still masked.
    Build it with :meth:`of`; most catalogs have none."""

    titles: frozenset[str] = frozenset()  # lower case

    @classmethod
    def of(cls, titles: Iterable[str]) -> TitleExemptions:
        """The exemptions for a catalog's ``titles``: those (with a digit) that would be masked."""
        found = {t.lower() for t in titles if t and any(ch.isdigit() for ch in t) and find_pii(t, NO_EXEMPTIONS)}
        return cls(frozenset(found))

    def __bool__(self) -> bool:
        return bool(self.titles)

    def keep(self, lower: str, spans: list[PiiSpan]) -> list[PiiSpan]:
        """``spans`` (found in the text ``lower``, in lower case) without those wholly inside a title."""
        inside = bytearray(len(lower))
        for title in self.titles:
            at = lower.find(title)
            while at != -1:
                inside[at : at + len(title)] = b"\x01" * len(title)
                at = lower.find(title, at + 1)
        return [s for s in spans if inside.find(0, s.start, s.end) != -1]


NO_EXEMPTIONS = TitleExemptions()
_exempt: contextvars.ContextVar[TitleExemptions] = contextvars.ContextVar("recchat_pii_exempt", default=NO_EXEMPTIONS)


@contextmanager
def exempting(exemptions: TitleExemptions) -> Iterator[None]:
    """Masking inside the block (in this thread or task) leaves ``exemptions`` alone, unless a
    call passes its own; the previous setting stands again after the block."""
    token = _exempt.set(exemptions)
    try:
        yield
    finally:
        _exempt.reset(token)


def find_pii(text: str, exempt: TitleExemptions | None = None) -> list[PiiSpan]:
    """Non-overlapping spans of personal data in ``text``, in order. Where two detectors claim
    the same characters, the earlier kind in ``KINDS`` wins (an e-mail's digits are not a phone).
    Spans inside ``exempt``'s titles (default: those of the enclosing :func:`exempting`) are left out."""
    scan = _Text(text)
    taken = bytearray(len(text))
    spans: list[PiiSpan] = []
    for kind in KINDS:
        if kind != "email" and not scan.has_digit:
            continue  # every kind but e-mail has a digit
        for start, end in _DETECTORS[kind](scan):
            if taken.find(1, start, end) == -1:
                taken[start:end] = b"\x01" * (end - start)
                spans.append(PiiSpan(kind, start, end))
    exempt = _exempt.get() if exempt is None else exempt
    if spans and exempt:
        spans = exempt.keep(scan.lower, spans)
    return sorted(spans, key=lambda s: s.start)


def mask_pii(text: str, limit: int | None = None, exempt: TitleExemptions | None = None) -> MaskResult:
    """``text`` with each span of personal data replaced by its token ("[email]", ...).

    With ``limit``, only the first ``limit`` characters are kept (a long chat message): the
    detectors look a little past the cut, and a span the cut would split is left out whole, so
    no half of an address or card number survives at the end. ``exempt``: as for :func:`find_pii`."""
    if limit is None or len(text) <= limit:
        window, cut = text, len(text)
    else:
        window, cut = text[: limit + 256], limit
    spans = find_pii(window, exempt)
    for s in spans:
        if s.start < cut < s.end:
            cut = s.start
    out: list[str] = []
    counts: dict[str, int] = {}
    at = 0
    for s in spans:
        if s.end > cut:
            break
        out += [window[at : s.start], TOKENS[s.kind]]
        at = s.end
        counts[s.kind] = counts.get(s.kind, 0) + 1
    out.append(window[at:cut])
    return MaskResult("".join(out), counts)


def masked(text: str, exempt: TitleExemptions | None = None) -> str:
    """Just the masked text."""
    return mask_pii(text, exempt=exempt).text
