"""A pipeline: an ordered composition of steps, itself a step (so pipelines nest)."""

from __future__ import annotations

from agentkit.core.context import Context
from agentkit.core.registry import StepRef, register
from agentkit.core.step import Record, Step
from agentkit.prompting.templates import PromptLibrary, default_library


@register("pipeline")
class Pipeline(Step):
    steps: list[StepRef]

    def reads(self, prompts: PromptLibrary) -> set[str]:
        needed: set[str] = set()
        produced: set[str] = set()
        for step in self.steps:
            needed |= step.reads(prompts) - produced
            produced |= step.writes()
        return needed

    def writes(self) -> set[str]:
        return set().union(*(step.writes() for step in self.steps))

    def check(self, available: set[str], prompts: PromptLibrary | None = None) -> set[str]:
        """Check every step in order, so the error names the step that lacks a field."""
        prompts = prompts or default_library()
        for step in self.steps:
            available = step.check(available, prompts)
        return available

    async def process(self, record: Record, ctx: Context) -> Record:
        current = record
        for step in self.steps:
            current = await step.run(current, ctx)
        return {k: v for k, v in current.items() if k not in record or record[k] is not v}

    def __or__(self, other: Step) -> Pipeline:
        return Pipeline(steps=[*self.steps, other])
