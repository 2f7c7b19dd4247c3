"""A chat message as words in clauses, and which words a negation reaches.

A clause ends at punctuation and at "but"; a negation ("no", "not", "nothing", "don't", "except"...)
reaches a few words forward within its clause ("no horror, something funny" wants nothing
negative of "funny"), and pairs like "anything but" or "other than" negate what follows them.
The rules of :mod:`recchat.conversation.understand` read a message through :class:`Clauses`.
"""

from __future__ import annotations

import re

from recchat.conversation.aliases import words

# Words (after normalisation: "don't" -> "don t") that turn the next few words down.
_NEGATION = {
    "no",
    "not",
    "without",
    "nothing",
    "never",
    "hate",
    "hated",
    "dislike",
    "disliked",
    "avoid",
    "except",
    "skip",
    "none",
    "nor",
    "exclude",
    "don",
    "didn",
    "doesn",
    "isn",
    "wasn",
    "aren",
    "weren",
}
_WINDOW = 5  # how far back a negation reaches, in words (never past its clause)
# Words that negate after a given word: "anything but drama", "something other than a comedy".
# "nothing but comedies" is no such pair: it asks for comedies only.
_NEGATING_PAIRS = {
    ("anything", "but"),
    ("everything", "but"),
    ("whatever", "but"),
    ("other", "than"),
    ("rather", "than"),
    ("instead", "of"),
    ("apart", "from"),
    ("aside", "from"),
}
# Words that make a named series mean all of it: "no more Die Hard movies", "none of the Die Hard sequels".


def words_of(text: str) -> list[str]:
    """``text``'s words as titles are compared (:func:`recchat.conversation.link.words`), articles kept."""
    return [w.text for w in words(text)]


class Clauses:
    """A message as words with their clause numbers: a clause ends at punctuation and at "but",
    and no negation reaches past it ("no horror, something funny"). Some words negate only by
    the word before them: "anything but drama" (that "but" ends no clause), "other than",
    "rather than", "instead of", "apart from", "aside from"; ``negators`` holds their positions."""

    def __init__(self, text: str):
        self.words: list[str] = []
        self.clause: list[int] = []
        self.clauses: list[str] = []
        self.negators: set[int] = set()
        self.series_clauses: set[int] = set()  # clauses naming a series seen whole (set by read_series)
        # "E.T." is one word (as recchat.conversation.link reads it), so its dots end no clause.
        text = re.sub(r"\b(?:[A-Za-z]\.){2,}", lambda m: m.group(0).replace(".", ""), text)
        for part in re.split(r"[,.;:!?]+", text):
            current: list[str] = []
            for word in words_of(part):
                after = (current[-1], word) if current else None
                if after in _NEGATING_PAIRS:
                    self.negators.add(len(self.words))
                elif word == "but" and current:
                    self.clauses.append(" ".join(current))
                    current = []
                self.words.append(word)
                self.clause.append(len(self.clauses))
                current.append(word)
            self.clauses.append(" ".join(current))

    def negated(self, start: int) -> bool:
        """Whether a negation in the same clause, a few words back, applies to the word at ``start``;
        an "and" or "but" in between ends it ("no horror and comedy" wants comedy)."""
        for j in range(start - 1, max(-1, start - _WINDOW - 1), -1):
            if self.clause[j] != self.clause[start]:
                return False
            if j in self.negators or self.words[j] in _NEGATION:
                return True
            if self.words[j] in ("and", "but"):
                return False
        return False

    def clause_negative(self, n: int) -> bool:
        """Whether clause ``n`` holds a negation anywhere."""
        return bool(set(self.clauses[n].split()) & _NEGATION) or any(self.clause[j] == n for j in self.negators)

    def before(self, start: int, n: int) -> tuple[str, ...]:
        """The ``n`` words before ``start``, skipping one article right before it."""
        end = start - 1 if start and self.words[start - 1] in ("the", "a", "an") else start
        return tuple(self.words[max(0, end - n) : end])
