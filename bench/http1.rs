//! Just enough HTTP/1.1 for the bench's load generator and mock upstream: keep-alive,
//! `content-length` and `chunked` bodies, no allocation per message beyond the buffers a
//! connection keeps. A general client (reqwest) would spend more CPU than the proxies being
//! measured on the same two cores.

use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How a message's body ends.
#[derive(Clone, Copy, Debug)]
pub enum Framing {
    Length(usize),
    Chunked,
    /// A response without either: the body runs to the end of the connection.
    Close,
}

/// One keep-alive connection with its read buffer.
pub struct Conn {
    pub stream: TcpStream,
    pub buf: Vec<u8>,
    /// Bytes of `buf` already consumed.
    pub start: usize,
}

impl Conn {
    pub fn new(stream: TcpStream) -> Conn {
        let _ = stream.set_nodelay(true);
        Conn {
            stream,
            buf: Vec::with_capacity(16 * 1024),
            start: 0,
        }
    }

    pub async fn connect(addr: &str) -> io::Result<Conn> {
        Ok(Conn::new(TcpStream::connect(addr).await?))
    }

    /// Reads more bytes; `false` at the end of the stream.
    pub async fn fill(&mut self) -> io::Result<bool> {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > 64 * 1024 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let len = self.buf.len();
        if self.buf.capacity() - len < 8 * 1024 {
            self.buf.reserve(16 * 1024);
        }
        let spare = self.buf.capacity() - len;
        self.buf.resize(len + spare, 0);
        let n = self.stream.read(&mut self.buf[len..]).await;
        let n = match n {
            Ok(n) => n,
            Err(e) => {
                self.buf.truncate(len);
                return Err(e);
            }
        };
        self.buf.truncate(len + n);
        Ok(n > 0)
    }

    pub fn pending(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Reads one message head; returns (status or 0 for a request, the request path, framing).
    pub async fn read_head(&mut self) -> io::Result<Option<Head>> {
        loop {
            if let Some(end) = find(self.pending(), b"\r\n\r\n") {
                let head = parse_head(&self.buf[self.start..self.start + end]);
                self.start += end + 4;
                return Ok(Some(head));
            }
            if !self.fill().await? {
                return Ok(None);
            }
        }
    }

    /// Reads a whole body, calling `on_data` with each piece as it arrives (with the time it
    /// arrived, for streams).
    pub async fn read_body(
        &mut self,
        framing: Framing,
        mut on_data: impl FnMut(&[u8]),
    ) -> io::Result<()> {
        match framing {
            Framing::Length(left) => self.pass(left, &mut on_data).await,
            Framing::Close => loop {
                if !self.pending().is_empty() {
                    on_data(self.pending());
                    self.start = self.buf.len();
                }
                if !self.fill().await? {
                    return Ok(());
                }
            },
            Framing::Chunked => loop {
                let line_end = loop {
                    if let Some(i) = find(self.pending(), b"\r\n") {
                        break i;
                    }
                    if !self.fill().await? {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                };
                let line = &self.buf[self.start..self.start + line_end];
                let hex = line.split(|b| *b == b';').next().unwrap_or(line);
                let size =
                    usize::from_str_radix(std::str::from_utf8(hex).unwrap_or("x").trim(), 16)
                        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "chunk size"))?;
                self.start += line_end + 2;
                if size == 0 {
                    // No trailers in anything the bench talks to: the final CRLF.
                    while self.pending().len() < 2 {
                        if !self.fill().await? {
                            return Ok(());
                        }
                    }
                    self.start += 2;
                    return Ok(());
                }
                self.pass(size, &mut on_data).await?;
                while self.pending().len() < 2 {
                    if !self.fill().await? {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                }
                self.start += 2;
            },
        }
    }

    /// Hands the next `left` bytes to `on_data`, reading as needed.
    async fn pass(&mut self, mut left: usize, on_data: &mut impl FnMut(&[u8])) -> io::Result<()> {
        while left > 0 {
            if self.pending().is_empty() && !self.fill().await? {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            let take = left.min(self.pending().len());
            on_data(&self.buf[self.start..self.start + take]);
            self.start += take;
            left -= take;
        }
        Ok(())
    }

    pub async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes).await
    }
}

pub struct Head {
    pub status: u16,
    pub path_is_messages: bool,
    pub framing: Framing,
}

fn parse_head(head: &[u8]) -> Head {
    let text = std::str::from_utf8(head).unwrap_or("");
    let mut lines = text.split("\r\n");
    let first = lines.next().unwrap_or("");
    let mut parts = first.split(' ');
    let a = parts.next().unwrap_or("");
    let b = parts.next().unwrap_or("");
    let status = if a.starts_with("HTTP/") {
        b.parse().unwrap_or(0)
    } else {
        0
    };
    let mut framing = if status == 0 {
        Framing::Length(0)
    } else {
        Framing::Close
    };
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if name.eq_ignore_ascii_case("content-length") {
            framing = Framing::Length(value.trim().parse().unwrap_or(0));
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            && value.to_ascii_lowercase().contains("chunked")
        {
            framing = Framing::Chunked;
        }
    }
    if status == 204 || status == 304 {
        framing = Framing::Length(0);
    }
    Head {
        status,
        path_is_messages: status == 0 && b.starts_with("/v1/messages"),
        framing,
    }
}

pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}
