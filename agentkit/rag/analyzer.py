"""Text analysis for lexical retrieval: split, lowercase, drop stopwords, stem.

The same analyzer must run over the corpus and the queries, so it is saved in
an index's manifest (``to_config``) and rebuilt from it. Stemming goes through
PyStemmer (Snowball) with a per-word cache: a corpus has far fewer distinct
words than tokens, so each word is stemmed once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

# The English stop set of Lucene's EnglishAnalyzer (also bm25s's "en").
ENGLISH_STOPWORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it", "no", "not",
    "of", "on", "or", "such", "that", "the", "their", "then", "there", "these", "they", "this", "to", "was",
    "will", "with",
})

_STOPWORD_SETS = {"en": ENGLISH_STOPWORDS, "english": ENGLISH_STOPWORDS}
DEFAULT_TOKEN_PATTERN = r"(?u)\b\w\w+\b"


class Analyzer:
    """Turns text into index terms.

    Args:
        lowercase: fold case before anything else.
        stopwords: ``"en"``, an explicit list, or None to keep every word.
        stemmer: a Snowball algorithm name known to PyStemmer (``"english"``), or None.
        token_pattern: regex whose matches are the words (default: runs of 2+ word characters).
    """

    def __init__(
        self,
        *,
        lowercase: bool = True,
        stopwords: str | Iterable[str] | None = "en",
        stemmer: str | None = "english",
        token_pattern: str = DEFAULT_TOKEN_PATTERN,
    ) -> None:
        self.lowercase = lowercase
        self.stopwords_spec: str | list[str] | None = (
            stopwords if stopwords is None or isinstance(stopwords, str) else sorted(set(stopwords))
        )
        self.stopwords = _resolve_stopwords(self.stopwords_spec)
        self.stemmer_name = stemmer
        self.token_pattern = token_pattern
        self._split = re.compile(token_pattern).findall
        self._stem_word = _load_stemmer(stemmer)
        self._cache: dict[str, str] = {}

    def tokens(self, text: str) -> list[str]:
        """The terms of one text, in order, duplicates kept."""
        words = self._split(text.lower() if self.lowercase else text)
        terms = list(map(self._cache.get, words))
        if None in terms:  # words seen for the first time: analyze each once
            for word in set(words).difference(self._cache):
                self._cache[word] = self._analyze_word(word)
            terms = list(map(self._cache.get, words))
        return [t for t in terms if t]

    def tokens_many(self, texts: Sequence[str]) -> list[list[str]]:
        return [self.tokens(t) for t in texts]

    def _analyze_word(self, word: str) -> str:
        """The term for ``word``; "" for a stopword (the cache stores it as a drop mark)."""
        if word in self.stopwords:
            return ""
        return self._stem_word(word) if self._stem_word else word

    def to_config(self) -> dict[str, Any]:
        return {
            "lowercase": self.lowercase,
            "stopwords": self.stopwords_spec,
            "stemmer": self.stemmer_name,
            "token_pattern": self.token_pattern,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Analyzer:
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.to_config().items())
        return f"Analyzer({args})"


def _resolve_stopwords(spec: str | list[str] | None) -> frozenset[str]:
    if spec is None:
        return frozenset()
    if isinstance(spec, str):
        try:
            return _STOPWORD_SETS[spec.lower()]
        except KeyError:
            raise ValueError(f"unknown stopword set {spec!r}; use 'en', a list of words, or None") from None
    return frozenset(spec)


def _load_stemmer(name: str | None) -> Any:
    if name is None:
        return None
    import Stemmer

    try:
        return Stemmer.Stemmer(name).stemWord
    except KeyError:
        raise ValueError(f"unknown stemmer {name!r}; choose from {Stemmer.algorithms()}") from None
