"""Drives llmgate with the official `openai` SDK, as a user's program would.

Usage: openai_client.py BASE_URL API_KEY MODE < request.json
MODE is `create` (chat.completions.create), `stream` (the same with stream=True, the
chunks' text joined by the script) or `models` (models.list).
Prints one JSON object: {"ok": true, "text": ..., "model": ..., "chunks": N,
"finish_reason": ..., "tool_calls": [{"id", "name", "arguments"}], "usage": {...} or null}
(or "ids" for models), or {"ok": false, "error": <exception class>, "status": <http status>,
"message": ...}. Streamed tool calls are assembled from their deltas, by index, as an
application would.
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
            text, chunks, model, finish, usage = "", 0, None, None, None
            calls = {}
            for chunk in client.chat.completions.create(stream=True, **request):
                chunks += 1
                model = chunk.model
                if chunk.usage is not None:
                    usage = chunk.usage.model_dump()
                if not chunk.choices:
                    continue
                choice = chunk.choices[0]
                if choice.delta.content:
                    text += choice.delta.content
                for call in choice.delta.tool_calls or []:
                    slot = calls.setdefault(call.index, {"id": None, "name": None, "arguments": ""})
                    if call.id:
                        slot["id"] = call.id
                    if call.function and call.function.name:
                        slot["name"] = call.function.name
                    if call.function and call.function.arguments:
                        slot["arguments"] += call.function.arguments
                if choice.finish_reason:
                    finish = choice.finish_reason
            out = {"ok": True, "text": text, "model": model, "chunks": chunks,
                   "finish_reason": finish, "usage": usage,
                   "tool_calls": [calls[i] for i in sorted(calls)]}
        else:
            c = client.chat.completions.create(**request)
            choice = c.choices[0]
            calls = [{"id": t.id, "name": t.function.name, "arguments": t.function.arguments}
                     for t in choice.message.tool_calls or []]
            out = {"ok": True, "text": choice.message.content, "model": c.model, "chunks": 0,
                   "finish_reason": choice.finish_reason, "tool_calls": calls,
                   "usage": c.usage.model_dump() if c.usage else None}
    except openai.APIStatusError as e:
        out = {"ok": False, "error": type(e).__name__, "status": e.status_code,
               "message": getattr(e, "message", str(e))}
    except openai.APIError as e:
        out = {"ok": False, "error": type(e).__name__, "status": None, "message": str(e)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
