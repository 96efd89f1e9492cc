"""Jinja2 prompt templates: completion templates and chat templates.

Templates are found by name in the user's folders first, then in the built-in
``prompts/`` folder, so a user overrides a built-in by giving a file the same
name. ``StrictUndefined`` turns a missing variable into an error that names the
template file and line. A chat template is one file whose rendered text is cut
into messages at marker lines::

    === system ===
    You are a careful assistant.
    === user ===
    {{ question }}

Put what is shared across inputs (instructions, fixed demonstrations) first
and the per-input part last: vLLM's prefix cache then computes it once.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta

from agentkit.resources import resource_dir

_MARKER = re.compile(r"^=== (system|user|assistant) ===[ \t]*$", re.MULTILINE)
INLINE = "<inline>"


class TemplateError(ValueError):
    """A template failed to load or render; the message starts with file:line."""


class Template:
    """One loaded template; ``render`` gives a string, ``render_messages`` a chat."""

    def __init__(self, name: str, source: str, jinja: jinja2.Template, filename: str) -> None:
        self.name = name
        self.source = source
        self.filename = filename
        self._jinja = jinja
        self.is_chat = bool(_MARKER.search(source))

    def variables(self, env: jinja2.Environment) -> set[str]:
        """Names the template reads from its context (for wiring checks)."""
        return set(jinja2.meta.find_undeclared_variables(env.parse(self.source)))

    def render(self, **values: Any) -> str:
        try:
            return self._jinja.render(**values)
        except jinja2.TemplateError as exc:
            raise TemplateError(f"{self.filename}:{_template_line(exc, self.filename)}: {exc}") from None

    def render_messages(self, **values: Any) -> list[dict[str, str]]:
        text = self.render(**values)
        parts = _MARKER.split(text)
        if len(parts) < 3:
            raise TemplateError(f"{self.filename}: a chat template needs '=== user ===' style marker lines")
        if parts[0].strip():
            raise TemplateError(f"{self.filename}: text before the first '=== role ===' marker: {parts[0][:60]!r}")
        return [{"role": role, "content": content.strip("\n")} for role, content in zip(parts[1::2], parts[2::2])]


def _template_line(exc: BaseException, filename: str) -> int | str:
    lineno = getattr(exc, "lineno", None)
    if lineno:
        return int(lineno)
    tb = sys.exc_info()[2]
    line: int | str = "?"
    while tb is not None:
        if tb.tb_frame.f_code.co_filename in (filename, "<template>"):
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


class PromptLibrary:
    """Finds templates by name: user folders first, then the built-ins."""

    def __init__(self, user_dirs: Sequence[str | Path] = ()) -> None:
        self.dirs = [Path(d) for d in user_dirs] + [resource_dir("prompts")]
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader([str(d) for d in self.dirs]),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            autoescape=False,
        )
        self._loaded: dict[str, Template] = {}
        self._variables: dict[str, set[str]] = {}

    def get(self, name_or_text: str) -> Template:
        """A template by file name (``*.j2``), or inline template text; loaded once."""
        if name_or_text not in self._loaded:
            self._loaded[name_or_text] = self._load(name_or_text)
        return self._loaded[name_or_text]

    def _load(self, name_or_text: str) -> Template:
        if name_or_text.endswith(".j2") and "\n" not in name_or_text:
            try:
                jinja = self.env.get_template(name_or_text)
            except jinja2.TemplateNotFound:
                raise TemplateError(
                    f"template {name_or_text!r} not found in {', '.join(str(d) for d in self.dirs)}"
                ) from None
            except jinja2.TemplateSyntaxError as exc:
                raise TemplateError(f"{exc.filename}:{exc.lineno}: {exc.message}") from None
            filename = jinja.filename or name_or_text
            return Template(name_or_text, Path(filename).read_text(encoding="utf-8"), jinja, filename)
        try:
            jinja = self.env.from_string(name_or_text)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"{INLINE}:{exc.lineno}: {exc.message}") from None
        return Template(INLINE, name_or_text, jinja, INLINE)

    def variables(self, name_or_text: str) -> set[str]:
        if name_or_text not in self._variables:
            self._variables[name_or_text] = self.get(name_or_text).variables(self.env)
        return self._variables[name_or_text]


@lru_cache(maxsize=1)
def default_library() -> PromptLibrary:
    """The built-ins plus folders listed in AGENTKIT_PROMPTS_PATH (os.pathsep-separated)."""
    import os

    extra = [p for p in os.environ.get("AGENTKIT_PROMPTS_PATH", "").split(os.pathsep) if p]
    return PromptLibrary(extra)
