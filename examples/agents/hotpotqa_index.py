"""Build the BM25 index the HotpotQA agent searches: every paragraph of the HotpotQA questions of a split.

HotpotQA's distractor setting gives each question 10 paragraphs (2 gold, 8
distractors); pooled over the split they stand in for Wikipedia, as in ReAct's
``search[entity]``. Run from the repository root:

    python examples/agents/hotpotqa_index.py            # -> indexes/hotpotqa-dev-bm25
"""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_OUT = Path("indexes/hotpotqa-dev-bm25")


def build_hotpotqa_index(out: str | Path = DEFAULT_OUT, split: str = "dev") -> int:
    """Index each distinct paragraph (by title) once; returns the number of documents."""
    from agentkit.evals.loaders import load_dataset
    from agentkit.rag.bm25 import BM25Index
    from agentkit.rag.documents import Document, chunk_documents

    paragraphs: dict[str, str] = {}
    for record in load_dataset("hotpotqa", split):
        for paragraph in record["paragraphs"]:
            paragraphs.setdefault(paragraph["title"], paragraph["text"])
    docs = [Document(id=f"hp{i}", title=title, text=text) for i, (title, text) in enumerate(paragraphs.items())]
    BM25Index.build(chunk_documents(docs)).save(out)
    return len(docs)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    parser.add_argument("--split", default="dev")
    args = parser.parse_args()
    print(f"{build_hotpotqa_index(args.out, args.split)} paragraphs indexed into {args.out}")
