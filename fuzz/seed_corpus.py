"""Writes seed inputs for the fuzz targets from the golden vectors: upstream SSE streams
for the stream translator (prefixed with the 8 control bytes the target reads), and
Anthropic request bodies for the request translation."""

import json
import pathlib
import sys

vectors, corpus = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
for path in sorted(vectors.glob("*.json")):
    vector = json.loads(path.read_text())
    inputs = vector.get("input", {})
    if "upstream_sse" in inputs:
        seed = bytes([0, 16, 64, 96, 128, 160, 200, 240]) + inputs["upstream_sse"].encode()
        (corpus / "stream_translator" / path.stem).write_bytes(seed)
    for key in ("anthropic_request", "count_request"):
        if key in inputs:
            (corpus / "anthropic_request" / path.stem).write_text(json.dumps(inputs[key]))
