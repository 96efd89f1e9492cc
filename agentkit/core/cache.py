"""An on-disk response cache whose key is everything that can change a response.

The key is a SHA-256 of canonical JSON holding the model name, the endpoint,
the exact prompt or messages, every sampling parameter (seed and ``n``
included) and the constraint. Nothing else, and nothing less: a hit returns
exactly the stored choices. SQLite in WAL mode keeps concurrent writers safe.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from agentkit.llm.types import Completion


def cache_key(model: str, endpoint: str, request: dict[str, Any]) -> str:
    canonical = json.dumps({"model": model, "endpoint": endpoint, "request": request}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class ResponseCache:
    """SQLite-backed map from request key to the stored Completion."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30.0, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, body TEXT NOT NULL)")
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> Completion | None:
        with self._lock:
            row = self._db.execute("SELECT body FROM responses WHERE key = ?", (key,)).fetchone()
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        return Completion.model_validate_json(row[0]).model_copy(update={"cached": True})

    def put(self, key: str, completion: Completion) -> None:
        body = completion.model_dump_json(exclude={"cached"})
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO responses (key, body) VALUES (?, ?)", (key, body))

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
