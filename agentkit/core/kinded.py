"""Frozen configs whose ``kind`` field picks the class (``selector: {kind: knn}``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, SerializerFunctionWrapHandler, model_serializer


class KindedConfig(BaseModel):
    """A frozen, strict config that always writes its ``kind``, even when defaults are left out.

    Without ``kind`` a dumped config could not be loaded back: the kind is what
    the discriminated union reads to choose the class.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str

    @model_serializer(mode="wrap")
    def _with_kind(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return {"kind": self.kind, **handler(self)}
