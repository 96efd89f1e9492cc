"""A small demonstration pool with four clear topics, embedded by the real all-MiniLM-L6-v2.

The embedder's disk cache goes to a temporary folder for this package's tests so tests
never depend on (or fill) the user's cache.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agentkit.icl.pool import Pool

TOPICS: dict[str, list[tuple[str, str]]] = {
    "refund": [
        ("How do I get a refund for my order?", "negative"),
        ("I want my money back for this purchase.", "negative"),
        ("Can I return the item and be reimbursed?", "negative"),
        ("Please refund the payment for my broken order.", "negative"),
        ("What is your policy on refunds for returned goods?", "negative"),
    ],
    "weather": [
        ("It will be sunny and warm tomorrow afternoon.", "positive"),
        ("Heavy rain and thunderstorms are expected tonight.", "negative"),
        ("The forecast says snow over the mountains this weekend.", "positive"),
        ("A cold wind is blowing from the north today.", "negative"),
    ],
    "cooking": [
        ("Simmer the tomato sauce with garlic for twenty minutes.", "positive"),
        ("Whisk the eggs and sugar until the mixture is fluffy.", "positive"),
        ("Bake the bread at two hundred degrees for half an hour.", "positive"),
        ("The soup was burnt and tasted awful.", "negative"),
    ],
    "football": [
        ("The striker scored twice in the second half of the match.", "positive"),
        ("Our goalkeeper saved a penalty in the final minute.", "positive"),
        ("The team lost the derby after a red card.", "negative"),
        ("Fans celebrated the championship title in the stadium.", "positive"),
    ],
}

REFUND_QUERY = "How can I get a refund for my order?"


def topic_of(text: str) -> str:
    return next(topic for topic, rows in TOPICS.items() if any(text == row[0] for row in rows))


@pytest.fixture(scope="package", autouse=True)
def _embedding_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    import os

    from agentkit.icl.embed import default_embedder

    old = os.environ.get("AGENTKIT_HOME")
    os.environ["AGENTKIT_HOME"] = str(tmp_path_factory.mktemp("agentkit_home"))
    default_embedder.cache_clear()
    yield
    default_embedder.cache_clear()
    if old is None:
        os.environ.pop("AGENTKIT_HOME", None)
    else:
        os.environ["AGENTKIT_HOME"] = old


@pytest.fixture(scope="package")
def topic_pool() -> Pool:
    records = [
        {"text": text, "sentiment": sentiment, "topic": topic}
        for topic, rows in TOPICS.items()
        for text, sentiment in rows
    ]
    return Pool.from_records(records, {"input": "text", "output": "sentiment", "label": "sentiment"})


@pytest.fixture(scope="package")
def topic_labelled_pool() -> Pool:
    """The same texts labelled by topic (four labels)."""
    records = [{"text": text, "topic": topic} for topic, rows in TOPICS.items() for text, _ in rows]
    return Pool.from_records(records, {"input": "text", "output": "topic", "label": "topic"})
