"""The two basic steps: render a template and generate; extract an answer."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import model_validator

from agentkit.core.context import Context
from agentkit.core.registry import register
from agentkit.core.step import Record, Step
from agentkit.llm.types import Completion, Constraint, SamplingParams
from agentkit.prompting import answers
from agentkit.prompting.templates import PromptLibrary


async def generate(
    ctx: Context, prompt: str, record: Record, params: SamplingParams, constraint: Constraint | None = None
) -> Completion:
    """Render ``prompt`` (a template name or inline text) with ``record`` and call the LLM.

    A template with ``=== role ===`` markers goes to the chat endpoint, any
    other to completions. Strategies call this rather than the client.
    """
    template = ctx.prompts.get(prompt)
    if template.is_chat:
        return await ctx.chat(template.render_messages(**record), params, constraint)
    return await ctx.complete(template.render(**record), params, constraint)


@register("generate")
class Generate(Step):
    """Render a prompt from the record and generate; writes text (a list when n > 1)."""

    prompt: str
    output: str = "completion"
    params: SamplingParams = SamplingParams()
    constraint: Constraint | None = None

    def reads(self, prompts: PromptLibrary) -> set[str]:
        return prompts.variables(self.prompt)

    def writes(self) -> set[str]:
        return {self.output}

    async def process(self, record: Record, ctx: Context) -> Record:
        result = await generate(ctx, self.prompt, record, self.params, self.constraint)
        return {self.output: result.text if self.params.n == 1 else result.texts}


ExtractKind = Literal["number", "letter", "yes_no", "label", "regex", "json"]


def check_extract_options(kind: ExtractKind, labels: tuple[str, ...] | None, pattern: str | None) -> None:
    """The options an extraction kind cannot do without (shared by ``Extract`` and reasoning's answer formats)."""
    if kind == "label" and not labels:
        raise ValueError("kind 'label' needs 'labels'")
    if kind == "regex" and not pattern:
        raise ValueError("kind 'regex' needs 'pattern'")


@register("extract")
class Extract(Step):
    """Extract an answer from a text field; writes the value and ``<output>_error``.

    On failure the value is None and the error says why. A list input (n
    samples) gives a list of values and a list of errors.
    """

    kind: ExtractKind
    input: str = "completion"
    output: str = "answer"
    labels: tuple[str, ...] | None = None
    pattern: str | None = None
    model: str | None = None  # "module:PydanticModel" for kind=json

    @model_validator(mode="after")
    def _needs(self) -> Extract:
        check_extract_options(self.kind, self.labels, self.pattern)
        return self

    def reads(self, prompts: PromptLibrary) -> set[str]:
        return {self.input}

    def writes(self) -> set[str]:
        return {self.output, f"{self.output}_error"}

    def extract(self, text: str) -> answers.Extraction:
        match self.kind:
            case "number":
                return answers.extract_number(text)
            case "letter":
                return answers.extract_letter(text)
            case "yes_no":
                return answers.extract_yes_no(text)
            case "label":
                return answers.extract_label(text, self.labels or ())
            case "regex":
                return answers.extract_regex(text, self.pattern or "")
            case "json":
                model = answers.load_model_class(self.model) if self.model else None
                return answers.extract_json(text, model)

    async def process(self, record: Record, ctx: Context) -> Record:
        source: Any = record[self.input]
        if isinstance(source, list):
            results = [self.extract(text) for text in source]
            return {self.output: [r.value for r in results], f"{self.output}_error": [r.error for r in results]}
        result = self.extract(source)
        if not result.ok:
            ctx.annotate(extraction_failed=result.error)
        return {self.output: result.value, f"{self.output}_error": result.error}
