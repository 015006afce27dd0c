//! Where a passed-through event stream stopped: needed to append an error event to a
//! stream the backend abandoned half-way through a line, without gluing the event onto
//! that line (an SSE parser would read both as one broken `data:` line).

/// The last bytes of a stream, enough to tell a line or event boundary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SseTail {
    last: [u8; 4],
    len: u8,
}

impl SseTail {
    /// Notes a chunk that went to the client. Constant work, no allocation.
    pub fn push(&mut self, chunk: &[u8]) {
        for &b in &chunk[chunk.len().saturating_sub(4)..] {
            self.last.copy_within(1.., 0);
            self.last[3] = b;
            self.len = (self.len + 1).min(4);
        }
    }

    fn ends_with(&self, suffix: &[u8]) -> bool {
        usize::from(self.len) >= suffix.len() && self.last.ends_with(suffix)
    }

    /// What must be written before a new event so that it starts on a fresh event: nothing
    /// after a blank line (or at the very start), else whatever completes the line and the
    /// event.
    pub fn terminator(&self) -> &'static [u8] {
        if self.len == 0 || self.ends_with(b"\n\n") || self.ends_with(b"\r\n\r\n") {
            b""
        } else if self.ends_with(b"\n") {
            b"\n"
        } else {
            b"\n\n"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn after(chunks: &[&[u8]]) -> &'static [u8] {
        let mut t = SseTail::default();
        for c in chunks {
            t.push(c);
        }
        t.terminator()
    }

    #[test]
    fn terminator_completes_the_open_line_and_event() {
        assert_eq!(after(&[]), b"");
        assert_eq!(after(&[b"data: {\"a\":1}\n\n"]), b"");
        assert_eq!(after(&[b"data: {\"a\":1}\r\n\r\n"]), b"");
        assert_eq!(after(&[b"data: {\"a\":", b"1}"]), b"\n\n");
        assert_eq!(after(&[b"data: {\"a\":1}\n"]), b"\n");
        // The boundary split across chunks of one byte.
        assert_eq!(after(&[b"data: x\n", b"\n"]), b"");
        assert_eq!(after(&[b"\n"]), b"\n");
    }
}
