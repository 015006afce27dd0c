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
    /// How far past `pos` has been searched for a line end: each byte is scanned once, so
    /// a long line arriving in many chunks costs linear time, not quadratic.
    scanned: usize,
    data: Vec<u8>,
    has_data: bool,
    /// The most bytes one event (its unfinished line plus the data gathered so far) may
    /// take; 0 means no limit.
    limit: usize,
}

/// An event grew past the framer's limit; the stream cannot be read further.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventTooLarge {
    pub limit: usize,
}

impl SseFramer {
    /// A framer that refuses events larger than `limit` bytes.
    pub fn with_limit(limit: usize) -> SseFramer {
        SseFramer {
            limit,
            ..SseFramer::default()
        }
    }

    /// Feeds bytes; calls `on_event` with the data of each complete event.
    ///
    /// # Errors
    /// When an unfinished event exceeds the limit; its bytes are dropped.
    pub fn feed(
        &mut self,
        chunk: &[u8],
        on_event: &mut impl FnMut(&str),
    ) -> Result<(), EventTooLarge> {
        self.buf.extend_from_slice(chunk);
        while let Some(nl) = self.buf[self.pos + self.scanned..]
            .iter()
            .position(|b| *b == b'\n')
        {
            let end = self.pos + self.scanned + nl;
            self.scanned = 0;
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
        self.scanned = self.buf.len();
        if self.limit > 0 && self.buf.len() + self.data.len() > self.limit {
            self.buf = Vec::new();
            self.data = Vec::new();
            self.scanned = 0;
            self.has_data = false;
            return Err(EventTooLarge { limit: self.limit });
        }
        Ok(())
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
            self.scanned = 0;
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
    // Serialising a `Value` into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, data);
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
            f.feed(chunk, &mut |e| out.push(e.to_owned()))
                .expect("no limit");
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

    #[test]
    fn an_unterminated_line_is_bounded_and_scanned_once() {
        let mut f = SseFramer::with_limit(1024);
        let mut seen = Vec::new();
        f.feed(b"data: {\"a\":1}\n\ndata: ", &mut |e| {
            seen.push(e.to_owned())
        })
        .expect("small");
        assert_eq!(seen, vec!["{\"a\":1}"]);
        let mut result = Ok(());
        for _ in 0..2000 {
            result = f.feed(b"x", &mut |e| seen.push(e.to_owned()));
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(EventTooLarge { limit: 1024 }));
        // A multi-line event counts its gathered data too.
        let mut g = SseFramer::with_limit(64);
        let line = format!("data: {}\n", "y".repeat(40));
        assert!(g.feed(line.as_bytes(), &mut |_| {}).is_ok());
        assert!(g.feed(line.as_bytes(), &mut |_| {}).is_err());
        // What was searched once is not searched again on the next chunk.
        let mut h = SseFramer::with_limit(0);
        h.feed(b"data: abc", &mut |_| {}).expect("no limit");
        h.feed(b"def", &mut |_| {}).expect("no limit");
        assert_eq!(h.scanned, h.buf.len());
    }
}
