"""Drives llmgate with the official `anthropic` SDK, as a user's program would.

Usage: anthropic_client.py BASE_URL API_KEY MODE < request.json
MODE is `stream` (messages.stream, accumulated by the SDK) or `create`.
Prints one JSON object: {"ok": true, "message": <final message>, "events": [...]} or
{"ok": false, "error": <exception class>, "status": <http status>, "message": <text>}.
"""

import json
import sys

import anthropic


def main() -> None:
    base_url, api_key, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    request = json.load(sys.stdin)
    client = anthropic.Anthropic(base_url=base_url, api_key=api_key, max_retries=0, timeout=30)
    try:
        if mode == "stream":
            events = []
            with client.messages.stream(**request) as stream:
                for event in stream:
                    events.append(event.type)
                message = stream.get_final_message()
            out = {"ok": True, "message": message.model_dump(mode="json"), "events": events}
        else:
            message = client.messages.create(**request)
            out = {"ok": True, "message": message.model_dump(mode="json"), "events": []}
    except anthropic.APIStatusError as e:
        out = {"ok": False, "error": type(e).__name__, "status": e.status_code, "message": str(e)}
    except anthropic.APIError as e:
        out = {"ok": False, "error": type(e).__name__, "status": None, "message": str(e)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
