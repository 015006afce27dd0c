"""The official `anthropic` SDK against llmgate in front of a real llama-server: natively
forwarded (`smollm2`, llama.cpp serves /v1/messages itself) and translated to OpenAI chat
(`smollm2-translate`, `smollm2-tools`)."""

import json
import urllib.request

import time

import anthropic
import openai
import pytest

from conftest import KEY

MODELS = ["smollm2", "smollm2-translate"]
WEATHER = {
    "name": "get_weather",
    "description": "Get the current weather for a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture(scope="module")
def client(gateway):
    return anthropic.Anthropic(base_url=gateway.url, api_key=KEY, max_retries=0, timeout=120)


def test_models_list_and_retrieve(client):
    page = client.models.list()
    assert {"smollm2", "smollm2-translate", "smollm2-tools"} <= {m.id for m in page.data}
    assert not page.has_more
    info = client.models.retrieve("smollm2-tools")
    assert (info.type, info.id, info.display_name) == ("model", "smollm2-tools", "smollm2-tools")
    assert info.created_at.year >= 2026
    with pytest.raises(anthropic.NotFoundError):
        client.models.retrieve("claude-opus-9")


@pytest.mark.parametrize("model", MODELS)
def test_messages_create(client, model):
    m = client.messages.create(
        model=model, max_tokens=32, system="You are terse.",
        messages=[{"role": "user", "content": "What is the capital of France?"}],
    )
    # Translated answers echo the client's model name; native ones come back untouched,
    # with the backend's own name.
    assert m.model in (model, "smollm2-135m-instruct")
    assert m.content and m.content[0].type == "text" and m.content[0].text.strip()
    assert m.stop_reason in ("end_turn", "max_tokens")
    assert m.usage.input_tokens > 0 and m.usage.output_tokens > 0


@pytest.mark.parametrize("model", MODELS)
def test_messages_stream_is_accumulated_by_the_sdk(client, model):
    with client.messages.stream(
        model=model, max_tokens=32,
        messages=[{"role": "user", "content": "Name three colours."}],
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text.strip()
    assert final.content[0].text == text
    assert final.usage.output_tokens > 0


def test_tool_use_round_trip(client):
    # SmolLM2 needs help to call a tool: a template that renders tools, `any`, and an
    # assistant prefill that opens the call (scouted in shared/docs/real-backends.md).
    first = client.messages.create(
        model="smollm2-tools", max_tokens=48, tools=[WEATHER],
        tool_choice={"type": "any"},
        messages=[
            {"role": "user", "content": "What is the weather in Paris?"},
            {"role": "assistant", "content": "<tool_call>\n"},
        ],
    )
    calls = [b for b in first.content if b.type == "tool_use"]
    assert calls, first
    assert calls[0].name == "get_weather"
    assert isinstance(calls[0].input, dict)
    second = client.messages.create(
        model="smollm2-tools", max_tokens=32, tools=[WEATHER],
        messages=[
            {"role": "user", "content": "What is the weather in Paris?"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": c.id, "name": c.name, "input": c.input} for c in calls]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": c.id, "content": "18C and sunny"} for c in calls]},
        ],
    )
    assert second.type == "message" and second.content


def _post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)


def test_count_tokens_is_exact(client, llama):
    body = {
        "system": "You are terse.",
        "messages": [{"role": "user", "content": "How many tokens is this sentence, exactly?"}],
    }
    native = client.messages.count_tokens(model="smollm2", **body)
    own = _post(llama.url + "/v1/messages/count_tokens", {"model": "smollm2-135m-instruct", **body})
    assert native.input_tokens == own["input_tokens"] > 0
    translated = client.messages.count_tokens(model="smollm2-translate", **body)
    rendered = _post(llama.url + "/apply-template", {"messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "How many tokens is this sentence, exactly?"},
    ]})
    tokens = _post(llama.url + "/tokenize", {"content": rendered["prompt"], "add_special": False, "parse_special": True})
    assert translated.input_tokens == len(tokens["tokens"])


@pytest.mark.parametrize("model", MODELS)
def test_context_overflow_speaks_claude_codes_language(client, model):
    with pytest.raises(anthropic.BadRequestError) as e:
        client.messages.create(
            model=model, max_tokens=16,
            messages=[{"role": "user", "content": "word " * 6000}],
        )
    assert "prompt is too long:" in str(e.value), e.value


def test_disconnect_releases_the_slot(gateway, llama):
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=KEY, max_retries=0, timeout=60)
    stream = client.chat.completions.create(
        model="smollm2", max_tokens=4000, stream=True,
        messages=[{"role": "user", "content": "Write a very long story."}],
        extra_body={"ignore_eos": True},
    )
    chunks = iter(stream)
    for _ in range(3):
        next(chunks)
    assert _processing(llama) >= 1, "the slot is busy while we stream"
    stream.close()
    # The client is gone: llmgate closes the upstream, llama.cpp cancels the task.
    deadline = time.time() + 5
    while time.time() < deadline and _processing(llama) > 0:
        time.sleep(0.05)
    assert _processing(llama) == 0, "slot still generating after the client left"


def _processing(llama) -> int:
    with urllib.request.urlopen(llama.url + "/slots") as r:
        return sum(1 for s in json.load(r) if s.get("is_processing"))
