"""The official `openai` SDK against llmgate in front of a real llama-server."""

import openai
import pytest

from conftest import KEY


@pytest.fixture(scope="module")
def client(gateway):
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=KEY, max_retries=0, timeout=120)


def test_chat(client):
    r = client.chat.completions.create(
        model="smollm2", max_tokens=24, temperature=0,
        messages=[{"role": "user", "content": "What is the capital of France?"}],
    )
    assert r.choices[0].message.content.strip()
    assert r.usage.prompt_tokens > 0 and r.usage.completion_tokens > 0


def test_streaming_chat_with_usage(client):
    chunks = list(client.chat.completions.create(
        model="smollm2", max_tokens=24, temperature=0, stream=True,
        stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "Count to five."}],
    ))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_completions(client):
    r = client.completions.create(model="smollm2", prompt="Once upon a time", max_tokens=8, temperature=0)
    assert r.choices[0].text


def test_embeddings(client):
    r = client.embeddings.create(model="smollm2", input=["hello world", "bonjour"])
    assert len(r.data) == 2
    assert len(r.data[0].embedding) == 576


def test_models(client):
    ids = {m.id for m in client.models.list()}
    assert {"smollm2", "smollm2-translate", "smollm2-tools"} <= ids
    assert client.models.retrieve("smollm2").id == "smollm2"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-9")


def test_errors(gateway, client):
    bad = openai.OpenAI(base_url=gateway.url + "/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()
    with pytest.raises(openai.NotFoundError) as e:
        client.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "x"}])
    assert "smollm2" in str(e.value)
    with pytest.raises(openai.APIStatusError) as e:
        client.chat.completions.create(model="smollm2", messages=[{"role": "user", "content": "x" * 2_000_000}])
    assert e.value.status_code == 413
