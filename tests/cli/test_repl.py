"""``agentkit repl``: commands and agent turns in-process, and the real thing driven in a pseudo-terminal."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from react_fakes import ScriptedLLM

from agentkit.agents.react import ReAct
from agentkit.cli.repl import Interrupted, Interrupter, Repl

ROOT = Path(__file__).resolve().parents[2]
CALCULATOR = ROOT / "examples" / "agents" / "calculator.yaml"
AGENTKIT = Path(sys.executable).parent / "agentkit"
CALC = '{"tool": "calculator", "args": {"expression": "6 * 7"}}'
FINISH = '{"tool": "finish", "args": {"answer": "42"}}'


def repl_with_agent(**script: Any) -> tuple[Repl, io.StringIO, ScriptedLLM]:
    out = io.StringIO()
    llm = ScriptedLLM(**script)
    repl = Repl(llm, out)  # type: ignore[arg-type]
    repl.use(str(CALCULATOR))
    return repl, out, llm


def said(out: io.StringIO) -> str:
    text = out.getvalue()
    out.seek(0)
    out.truncate()
    return text


def test_agent_turn_streams_steps_and_answers() -> None:
    repl, out, _ = repl_with_agent(thoughts=["I will compute 6 * 7.", "It is 42."], actions=[CALC, FINISH])
    assert repl.prompt_text == "calculator> " and "agent calculator (tools: calculator)" in said(out)
    assert asyncio.run(repl.handle("What is 6 times 7?")) is True
    text = said(out)
    assert "Thought 1: I will compute 6 * 7." in text and "Observation 1: 42" in text
    assert text.rstrip().endswith("answer: 42")
    assert [t["role"] for t in repl.turns] == ["user", "assistant"] and repl.turns[1]["content"] == "42"


def test_commands() -> None:
    repl, out, _ = repl_with_agent(actions=[CALC, FINISH])
    said(out)
    repl.command("/tools")
    assert "calculator(expression: string): Compute an arithmetic expression" in said(out)
    repl.command("/demos")
    assert "Question: What is 12 times 9 plus 3?\nThought 1: I will use the calculator" in said(out)
    repl.command("/prompt")
    repl.command("/trace")
    assert said(out) == "no prompt sent yet\nno run yet\n"
    repl.command("/set max_steps 2")
    repl.command("/set temperature 0.2")
    assert said(out) == "max_steps = 2\ntemperature = 0.2\n"
    step = repl.runnable.step  # type: ignore[union-attr]
    assert isinstance(step, ReAct) and step.max_steps == 2 and step.action_params.temperature == 0.2
    repl.command("/set colour blue")
    assert said(out).startswith("error: ") and repl.runnable.step is step  # type: ignore[union-attr]
    repl.command("/set")
    assert "max_steps = 2" in said(out)
    asyncio.run(repl.handle("What is 6 times 7?"))
    said(out)
    repl.command("/prompt")
    assert said(out).rstrip().endswith("Question: What is 6 times 7?\nThought 1: I will act.\nAction 1: "
                                       + CALC + "\nObservation 1: 42\nThought 2: I will act.\nAction 2:")
    repl.command("/trace")
    assert "agent_step: step 2" in said(out)
    repl.command("/frobnicate")
    assert "unknown command /frobnicate" in said(out)
    assert repl.command("/exit") is False


def test_save_and_reset(tmp_path: Path) -> None:
    repl, out, _ = repl_with_agent(actions=[FINISH])
    asyncio.run(repl.handle("first question"))
    target = tmp_path / "session.jsonl"
    repl.command(f"/save {target}")
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert rows[0] == {"role": "user", "content": "first question", "agent": "calculator"}
    assert rows[1]["content"] == "42" and rows[1]["trace"]["kind"] == "run"
    assert rows[1]["trace"]["children"][0]["annotations"]["stop_reason"] == "finish"
    repl.command("/reset")
    assert repl.turns == [] and repl.last_trace is None
    repl.command("/agent")
    assert repl.runnable is None and repl.prompt_text == "chat> "
    repl.command("/set max_tokens 16")
    assert repl.chat_settings["max_tokens"] == 16
    repl.command("/set max_tokens -3")
    assert "error" in said(out) and repl.chat_settings["max_tokens"] == 16


class Stuck(ScriptedLLM):
    async def complete(self, *args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(60)


def test_ctrl_c_cancels_the_running_turn_only() -> None:
    out = io.StringIO()
    repl = Repl(Stuck(), out)  # type: ignore[arg-type]
    repl.use(str(CALCULATOR))

    async def scenario() -> bool:
        with Interrupter() as interrupter:
            os.kill(os.getpid(), signal.SIGINT)  # between turns: ignored
            await asyncio.sleep(0.05)
            asyncio.get_running_loop().call_later(0.2, os.kill, os.getpid(), signal.SIGINT)
            with pytest.raises(Interrupted):
                await interrupter.run(repl.handle("never answered"))
            return await interrupter.run(repl.handle("/set max_steps 3"))  # the session goes on

    assert asyncio.run(scenario()) is True
    assert repl.turns[-1]["interrupted"] is True and repl.turns[-1]["trace"]["children"]
    assert "max_steps = 3" in out.getvalue()


def wait_until_prompt_left(child: Any, timeout: float = 60.0) -> None:
    """Wait until prompt_toolkit has handed the terminal back (ISIG on): only then is Ctrl-C a signal, not a key."""
    import termios

    import pexpect

    deadline = time.monotonic() + timeout
    while not termios.tcgetattr(child.child_fd)[3] & termios.ISIG:
        assert time.monotonic() < deadline, "the prompt never returned the terminal"
        child.expect([pexpect.TIMEOUT], timeout=0.05)  # keep reading the output meanwhile


@pytest.mark.llm
def test_repl_in_a_pseudo_terminal(llm_url: str, tmp_path: Path) -> None:
    """Agent turns, commands, multi-line chat, Ctrl-C, /save, history across sessions and Ctrl-D, for real."""
    import pexpect

    env = {**os.environ, "AGENTKIT_HOME": str(tmp_path / "home"), "PROMPT_TOOLKIT_NO_CPR": "1", "TERM": "xterm"}
    log = io.StringIO()

    def spawn(*extra: str) -> Any:
        child = pexpect.spawn(str(AGENTKIT), ["repl", *extra, "--url", llm_url], env=env, encoding="utf-8",
                              timeout=60, dimensions=(50, 200), cwd=str(ROOT))
        child.logfile_read = log
        return child

    child = spawn(str(CALCULATOR))
    child.expect("agent calculator \\(tools: calculator\\)")
    child.expect("calculator>")
    child.sendline("/set max_steps 2")
    child.expect("max_steps = 2")
    child.expect("calculator>")
    child.sendline("What is 345 multiplied by 27?")
    child.expect("Thought 1:", timeout=600)
    child.expect("Action 1:", timeout=600)
    child.expect("answer: ", timeout=900)
    child.expect("calculator>")
    child.sendline("/prompt")
    child.expect("Question: What is 345 multiplied by 27\\?")
    child.expect("calculator>")

    child.sendline("/agent")
    child.expect("plain chat with the model")
    child.expect("chat>")
    child.sendline("/set max_tokens 300")
    child.expect("chat>")
    child.send("Write a long story\x1b\r about a cat.")  # Esc-Enter: a second line
    child.send("\r")
    child.expect("\\.\\.\\. +about a cat\\.")  # the continuation prompt
    wait_until_prompt_left(child)
    child.expect("[A-Za-z]{3}", timeout=300)  # the reply is streaming (escape codes have single letters)
    child.sendintr()  # Ctrl-C while the reply is generated
    child.expect("interrupted", timeout=120)
    child.expect("chat>")
    child.sendline("/prompt")
    child.expect("=== user ===\r\nWrite a long story\r\n about a cat\\.")
    child.expect("chat>")
    saved = tmp_path / "session.jsonl"
    child.sendline(f"/save {saved}")
    child.expect("4 messages written")
    child.expect("chat>")
    child.sendeof()  # Ctrl-D
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, log.getvalue()[-3000:]

    rows = [json.loads(line) for line in saved.read_text().splitlines()]
    assert [r["role"] for r in rows] == ["user", "assistant", "user", "assistant"]
    assert rows[2]["content"] == "Write a long story\n about a cat." and rows[3]["interrupted"] is True
    assert all(step["valid"] for step in rows[1]["output"]["trajectory"])
    history = (tmp_path / "home" / "repl_history").read_text()
    assert "+What is 345 multiplied by 27?" in history and "+ about a cat." in history

    child = spawn()  # a new session remembers the last one's input
    child.expect("chat>")
    child.send("\x1b[A")  # Up arrow recalls the last line of the previous session
    child.expect(f"/save {saved}")
    child.send("\r")
    child.expect(f"0 messages written to {saved}")  # it ran: a new session starts empty
    child.expect("chat>")
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
