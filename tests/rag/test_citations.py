"""Citation parsing, mapping to passages, refusals, and the constraints that force the format."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest

from agentkit.rag.citations import (
    NOT_IN_CONTEXT,
    Citations,
    citation_pattern,
    citation_schema,
    cited_passages,
    is_unanswerable,
    parse_citations,
)

PASSAGES = [
    {"doc_id": "a", "title": "A", "text": "first", "score": 3.0, "rank": 1},
    {"doc_id": "b", "title": "B", "text": "second", "score": 2.0, "rank": 2},
    {"doc_id": "c", "title": "", "text": "third", "score": 1.0, "rank": 3},
]


@pytest.mark.parametrize(
    ("text", "numbers", "invalid"),
    [
        ("Berlin is the capital [2].", (2,), ()),
        ("It grew [3] and shrank [1]. Then it grew again [3].", (3, 1), ()),
        ("Both hold [1, 3].", (1, 3), ()),
        ("Both hold [1][2].", (1, 2), ()),
        ("All of them [1-3].", (1, 2, 3), ()),
        ("See [Passage 2] and [passages 1 and 3].", (2, 1, 3), ()),
        ("Wrong number [7] but right one [2].", (2,), (7,)),
        ("A zero [0] is no passage.", (), (0,)),
        ("No brackets: passage 2 says so (1).", (), ()),
        ("Years [1990-2020] are not a range of passages.", (), (1990, 2020)),
        ("[2]", (2,), ()),
    ],
)
def test_parse_citations(text: str, numbers: tuple[int, ...], invalid: tuple[int, ...]) -> None:
    assert parse_citations(text, n_passages=3) == Citations(numbers, invalid)


def test_cited_passages_follow_citation_order_and_skip_unknown_numbers() -> None:
    assert cited_passages([3, 1, 9], PASSAGES) == [
        {"doc_id": "c", "title": "", "text": "third"},
        {"doc_id": "a", "title": "A", "text": "first"},
    ]


@pytest.mark.parametrize(
    "text",
    [
        NOT_IN_CONTEXT,
        "not in the context",
        "The answer is not mentioned in the passages.",
        "This is not found in the provided passages.",
        "The context does not contain information about the boiling point.",
        "The passages don't mention it.",
        "The question cannot be answered from these passages.",
        "There is no information about this.",
        "I don't know.",
        "",
        "   ",
    ],
)
def test_refusals_are_recognised(text: str) -> None:
    assert is_unanswerable(text)


@pytest.mark.parametrize(
    "text",
    [
        "Berlin is the capital of Germany [2].",
        "The drug does not cure the disease [1].",
        "Patients who cannot sleep have higher risk [3].",
        "Information about insulin is given in passage [1].",
        "Not all tumours respond to the therapy [2].",
    ],
)
def test_answers_are_not_mistaken_for_refusals(text: str) -> None:
    assert not is_unanswerable(text)


def test_citation_pattern_accepts_cited_sentences_and_the_refusal_only() -> None:
    pattern = re.compile(citation_pattern(3))
    assert pattern.fullmatch("Berlin is the capital [2].")
    assert pattern.fullmatch("It grew [1][3]. It shrank [2]")
    assert pattern.fullmatch(NOT_IN_CONTEXT)
    assert not pattern.fullmatch("Berlin is the capital.")  # no citation
    assert not pattern.fullmatch("Berlin is the capital [4].")  # no passage 4
    assert not pattern.fullmatch("One [1]. Two [2]. Three [3].")  # at most two sentences
    assert not pattern.fullmatch("x" * 201 + " [1]")  # a sentence must reach its citation in time
    assert re.compile(citation_pattern(12)).fullmatch("Found [12].")
    with pytest.raises(ValueError):
        citation_pattern(0)


def test_citation_schema_needs_a_valid_citation_unless_refusing() -> None:
    schema = citation_schema(2)
    jsonschema.validate({"answer": "Berlin.", "citations": [2]}, schema)
    jsonschema.validate({"answer": NOT_IN_CONTEXT, "citations": []}, schema)
    for bad in ({"answer": "Berlin.", "citations": []}, {"answer": "Berlin.", "citations": [3]}, {"answer": "Berlin."}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
    assert json.loads(json.dumps(schema)) == schema  # plain JSON, sendable to vLLM
