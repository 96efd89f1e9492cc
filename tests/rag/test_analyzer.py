"""The analyzer: lowercase, stopwords, Snowball stemming, and a config that rebuilds it."""

from __future__ import annotations

import pytest

from agentkit.rag.analyzer import ENGLISH_STOPWORDS, Analyzer


def test_default_lowercases_drops_stopwords_and_stems() -> None:
    tokens = Analyzer().tokens("The Mice were RUNNING into the studies of a gene's expression, x y 42")
    assert tokens == ["mice", "were", "run", "studi", "gene", "express", "42"]


def test_each_step_can_be_switched_off() -> None:
    text = "The Running studies"
    assert Analyzer(stemmer=None).tokens(text) == ["running", "studies"]
    assert Analyzer(stopwords=None).tokens(text) == ["the", "run", "studi"]
    assert Analyzer(lowercase=False, stopwords=None, stemmer=None).tokens(text) == ["The", "Running", "studies"]
    assert Analyzer(stopwords=["running"], stemmer=None).tokens(text) == ["the", "studies"]


def test_cache_gives_the_same_terms_twice() -> None:
    analyzer = Analyzer()
    first = analyzer.tokens("Proteins binding receptors")
    assert analyzer.tokens("Proteins binding receptors") == first == ["protein", "bind", "receptor"]


def test_config_round_trip_and_errors() -> None:
    analyzer = Analyzer(stopwords=["foo", "bar"], stemmer="english")
    rebuilt = Analyzer.from_config(analyzer.to_config())
    assert rebuilt.to_config() == analyzer.to_config()
    assert rebuilt.tokens("foo bars") == ["bar"]
    assert "the" in ENGLISH_STOPWORDS and len(ENGLISH_STOPWORDS) == 33
    with pytest.raises(ValueError, match="stemmer"):
        Analyzer(stemmer="klingon")
    with pytest.raises(ValueError, match="stopword"):
        Analyzer(stopwords="klingon")
