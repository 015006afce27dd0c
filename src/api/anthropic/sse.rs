//! Server-sent events in, server-sent events out.
//!
//! [`SseFramer`] cuts an upstream byte stream into events whatever the chunk boundaries:
//! `\n` or `\r\n` line ends, comments (`:` keep-alives), `data:` with or without the space,
//! several `data:` lines joined with `\n`. Bytes are kept until an event is complete, so
//! a multi-byte UTF-8 character split across chunks is decoded whole.

use serde_json::Value;

#[derive(Debug, Default)]
pub struct SseFramer {
    buf: Vec<u8>,
    /// Read position in `buf` (start of the first unprocessed line).
    pos: usize,
    data: Vec<u8>,
    has_data: bool,
}

impl SseFramer {
    /// Feeds bytes; calls `on_event` with the data of each complete event.
    pub fn feed(&mut self, chunk: &[u8], on_event: &mut impl FnMut(&str)) {
        self.buf.extend_from_slice(chunk);
        while let Some(nl) = self.buf[self.pos..].iter().position(|b| *b == b'\n') {
            let end = self.pos + nl;
            let line_end = if end > self.pos && self.buf[end - 1] == b'\r' {
                end - 1
            } else {
                end
            };
            let start = self.pos;
            self.pos = end + 1;
            if line_end == start {
                self.dispatch(on_event);
            } else {
                self.line(start, line_end);
            }
        }
        // Keep only the unfinished line.
        self.buf.drain(..self.pos);
        self.pos = 0;
    }

    /// The stream ended: a final event without its blank line still counts.
    pub fn finish(&mut self, on_event: &mut impl FnMut(&str)) {
        if !self.buf.is_empty() {
            let mut end = self.buf.len();
            if self.buf[end - 1] == b'\r' {
                end -= 1;
            }
            self.line(0, end);
            self.buf.clear();
            self.pos = 0;
        }
        self.dispatch(on_event);
    }

    fn line(&mut self, start: usize, end: usize) {
        let line = &self.buf[start..end];
        if let Some(rest) = line.strip_prefix(b"data:") {
            let rest = rest.strip_prefix(b" ").unwrap_or(rest);
            if self.has_data {
                self.data.push(b'\n');
            }
            self.data.extend_from_slice(rest);
            self.has_data = true;
        }
        // `event:`, `id:`, `retry:` and `:` comments carry nothing we translate.
    }

    fn dispatch(&mut self, on_event: &mut impl FnMut(&str)) {
        if self.has_data {
            let text = String::from_utf8_lossy(&self.data).into_owned();
            self.data.clear();
            self.has_data = false;
            on_event(&text);
        }
    }
}

/// Appends one Anthropic event: `event: <type>\ndata: <compact JSON>\n\n`.
pub fn write_event(out: &mut Vec<u8>, event: &str, data: &Value) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(event.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    out.extend_from_slice(data.to_string().as_bytes());
    out.extend_from_slice(b"\n\n");
}

/// A keep-alive the SDKs skip.
pub const PING: &[u8] = b"event: ping\ndata: {\"type\":\"ping\"}\n\n";

#[cfg(test)]
mod tests {
    use super::*;

    fn events(input: &[u8], split: usize) -> Vec<String> {
        let mut f = SseFramer::default();
        let mut out = Vec::new();
        for chunk in input.chunks(split.max(1)) {
            f.feed(chunk, &mut |e| out.push(e.to_owned()));
        }
        f.finish(&mut |e| out.push(e.to_owned()));
        out
    }

    #[test]
    fn frames_whatever_the_chunking() {
        let input = "data: {\"a\":\"é😀\"}\r\n\r\n: keep-alive\n\ndata:x\ndata: y\n\nevent: e\ndata: [DONE]\n\ndata: tail".as_bytes();
        let expected = vec!["{\"a\":\"é😀\"}", "x\ny", "[DONE]", "tail"];
        for split in 1..input.len() {
            assert_eq!(events(input, split), expected, "split {split}");
        }
    }
}
