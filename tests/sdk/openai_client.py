"""Drives llmgate with the official `openai` SDK, as a user's program would.

Usage: openai_client.py BASE_URL API_KEY MODE < request.json
MODE is `create` (chat.completions.create), `stream` (the same with stream=True, the
chunks' text joined by the script) or `models` (models.list).
Prints one JSON object: {"ok": true, "text": ..., "model": ..., "chunks": N} (or "ids"
for models), or {"ok": false, "error": <exception class>, "status": <http status>}.
"""

import json
import sys

import openai


def main() -> None:
    base_url, api_key, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    request = json.load(sys.stdin)
    client = openai.OpenAI(base_url=base_url + "/v1", api_key=api_key, max_retries=0, timeout=30)
    try:
        if mode == "models":
            out = {"ok": True, "ids": [m.id for m in client.models.list()]}
        elif mode == "stream":
            text, chunks, model = "", 0, None
            for chunk in client.chat.completions.create(stream=True, **request):
                chunks += 1
                model = chunk.model
                if chunk.choices and chunk.choices[0].delta.content:
                    text += chunk.choices[0].delta.content
            out = {"ok": True, "text": text, "model": model, "chunks": chunks}
        else:
            c = client.chat.completions.create(**request)
            out = {"ok": True, "text": c.choices[0].message.content, "model": c.model, "chunks": 0}
    except openai.APIStatusError as e:
        out = {"ok": False, "error": type(e).__name__, "status": e.status_code}
    except openai.APIError as e:
        out = {"ok": False, "error": type(e).__name__, "status": None}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
