"""Claude Code (`@anthropic-ai/claude-code` from npm) against llmgate and a real model."""

import json
import os
import subprocess
import tempfile

import pytest

from conftest import KEY


@pytest.mark.skipif(not os.environ.get("CLAUDE_BIN"), reason="CLAUDE_BIN not set (make e2e installs it)")
def test_claude_code_gets_an_answer(gateway):
    home = tempfile.mkdtemp(prefix="claude-home-")
    env = {
        "PATH": os.environ["PATH"],
        "HOME": home,
        "ANTHROPIC_BASE_URL": gateway.url,
        "ANTHROPIC_API_KEY": KEY,
        "ANTHROPIC_MODEL": "smollm2",
        "ANTHROPIC_SMALL_FAST_MODEL": "smollm2",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "CLAUDE_CODE_MAX_OUTPUT_TOKENS": "1024",
        "DISABLE_AUTOUPDATER": "1",
    }
    run = subprocess.run(
        [os.environ["CLAUDE_BIN"], "-p", "Reply with one word: hello", "--output-format", "json",
         "--bare", "--tools", "", "--system-prompt", "You are a terse assistant."],
        env=env, capture_output=True, text=True, timeout=300, cwd=home,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["is_error"] is False, result
    assert result["result"].strip(), result
    logs = gateway.logs_with("/v1/messages?beta=true")
    assert "/v1/messages?beta=true" in logs, "Claude Code's requests went through llmgate"
