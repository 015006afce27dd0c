"""Writes seed inputs for the fuzz targets from the golden vectors (both directions):
upstream SSE streams for the stream translators (prefixed with the 8 control bytes the
targets read), and request bodies for the request translations.

Usage: seed_corpus.py VECTORS_DIR CORPUS_DIR [REVERSE_VECTORS_DIR]"""

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

if len(sys.argv) > 3:
    for path in sorted(pathlib.Path(sys.argv[3]).glob("*.json")):
        inputs = json.loads(path.read_text()).get("input", {})
        if "anthropic_sse" in inputs:
            seed = bytes([1, 16, 64, 96, 128, 160, 200, 240]) + inputs["anthropic_sse"].encode()
            (corpus / "chunk_translator" / path.stem).write_bytes(seed)
        if "openai_request" in inputs:
            (corpus / "openai_request" / path.stem).write_text(json.dumps(inputs["openai_request"]))
