"""The step contract, written down once.

A step is immutable configuration (a frozen pydantic model) plus one async
method, ``process(record, ctx)``, that returns the fields it adds. It declares
what it ``reads`` and ``writes`` so a pipeline's wiring is checked before
anything runs. ``with_(...)`` returns a changed copy; nothing is mutated, so one
step serves many concurrent runs. ``to_config()`` writes the YAML form and the
registry (``agentkit.core.registry``) builds it back.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict

from agentkit.core.context import Context
from agentkit.prompting.templates import PromptLibrary, default_library

Record = dict[str, Any]


class WiringError(ValueError):
    """A step reads a field that neither the input nor an earlier step provides."""

    def __init__(self, step: str, missing: set[str], available: set[str]) -> None:
        self.step = step
        self.missing = missing
        super().__init__(
            f"step {step!r} reads {', '.join(sorted(missing))}, which no earlier step or the input provides "
            f"(available: {', '.join(sorted(available)) or 'nothing'})"
        )


class Step(BaseModel):
    """Base class of every step. Subclasses implement ``process``."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    type_name: ClassVar[str] = ""

    name: str | None = None

    @property
    def label(self) -> str:
        return self.name or self.type_name or type(self).__name__

    def reads(self, prompts: PromptLibrary) -> set[str]:
        return set()

    def writes(self) -> set[str]:
        return set()

    def check(self, available: set[str], prompts: PromptLibrary | None = None) -> set[str]:
        """Raise WiringError if inputs are missing; return the fields available after this step."""
        missing = self.reads(prompts or default_library()) - available
        if missing:
            raise WiringError(self.label, missing, available)
        return available | self.writes()

    async def process(self, record: Record, ctx: Context) -> Record:
        raise NotImplementedError

    async def run(self, record: Record, ctx: Context | None = None) -> Record:
        """Run inside a step span; the outermost call checks the wiring first."""
        if ctx is None:
            ctx = Context()
        if not ctx.wiring_checked:
            self.check(set(record), ctx.prompts)
            ctx = replace(ctx, wiring_checked=True)
        reads = self.reads(ctx.prompts)
        inner = ctx.child("step", self.label, **{k: v for k, v in record.items() if k in reads})
        try:
            new_fields = await self.process(record, inner)
        except BaseException as exc:
            inner.span.finish(error=exc)
            raise
        inner.span.finish(**new_fields)
        return {**record, **new_fields}

    def run_sync(self, record: Record, **context: Any) -> Record:
        """For scripts: runs in a fresh event loop; ``context`` goes to Context."""
        return asyncio.run(self.run(record, Context(**context)))

    def with_(self, **changes: Any) -> Self:
        return type(self).model_validate({**dict(self), **changes})

    def to_config(self) -> dict[str, Any]:
        body = self.model_dump(mode="json", exclude_defaults=True)
        return {"type": self.type_name, **body}
