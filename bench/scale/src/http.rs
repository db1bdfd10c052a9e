//! A small keep-alive HTTP/1.1 client: one request at a time per connection. keypaird answers
//! with Content-Length; moto's Werkzeug server may answer `Connection: close`, HTTP/1.0 without
//! a length, or chunked, so all of those are read too and the connection is reopened as needed.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// No reply takes this long unless the server is stuck; then the figure is invalid, not hung.
/// Generous: moto at 10,000 key pairs takes seconds per filtered lookup, 16 of them queued.
const REPLY_TIMEOUT: Duration = Duration::from_secs(180);

pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap_or("<not UTF-8>")
    }
}

#[derive(Debug)]
pub enum SendError {
    /// A kept-alive connection was already closed by the server: nothing was answered, so the
    /// request may be signed again and resent on a new connection.
    Stale(io::Error),
    Failed(io::Error),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Stale(err) => write!(f, "kept-alive connection closed: {err}"),
            SendError::Failed(err) => write!(f, "{err}"),
        }
    }
}

pub struct Conn {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    /// Whether the open stream already carried a reply (only then is a close "stale").
    reused: bool,
    buf: Vec<u8>,
}

impl Conn {
    pub fn new(addr: SocketAddr) -> Self {
        Conn {
            addr,
            stream: None,
            reused: false,
            buf: Vec::with_capacity(16 * 1024),
        }
    }

    pub async fn connect(&mut self) -> io::Result<()> {
        let stream = TcpStream::connect(self.addr).await?;
        stream.set_nodelay(true)?;
        self.stream = Some(stream);
        self.reused = false;
        Ok(())
    }

    /// Sends one request and reads its whole reply.
    pub async fn send(&mut self, request: &[u8]) -> Result<Response, SendError> {
        if self.stream.is_none() {
            self.connect().await.map_err(SendError::Failed)?;
        }
        let reused = self.reused;
        let outcome = match tokio::time::timeout(REPLY_TIMEOUT, self.exchange(request)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(Exchange::Failed(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no reply within {} s", REPLY_TIMEOUT.as_secs()),
            ))),
        };
        match outcome {
            Ok((response, keep_alive)) => {
                if keep_alive {
                    self.reused = true;
                } else {
                    self.stream = None;
                }
                Ok(response)
            }
            Err(err) => {
                self.stream = None;
                Err(match err {
                    Exchange::NothingRead(err) if reused => SendError::Stale(err),
                    Exchange::NothingRead(err) | Exchange::Failed(err) => SendError::Failed(err),
                })
            }
        }
    }

    async fn exchange(&mut self, request: &[u8]) -> Result<(Response, bool), Exchange> {
        let stream = self.stream.as_mut().expect("connected above");
        stream
            .write_all(request)
            .await
            .map_err(Exchange::NothingRead)?;
        let buf = &mut self.buf;
        buf.clear();
        let head_len = loop {
            if let Some(at) = find(buf, b"\r\n\r\n") {
                break at + 4;
            }
            let n = stream.read_buf(buf).await.map_err(|err| {
                if buf.is_empty() {
                    Exchange::NothingRead(err)
                } else {
                    Exchange::Failed(err)
                }
            })?;
            if n == 0 {
                let err = io::Error::new(io::ErrorKind::UnexpectedEof, "closed before a reply");
                return Err(if buf.is_empty() {
                    Exchange::NothingRead(err)
                } else {
                    Exchange::Failed(err)
                });
            }
        };
        let head = Head::parse(&buf[..head_len]).map_err(Exchange::Failed)?;
        let body = match head.framing {
            Framing::Length(len) => {
                while buf.len() < head_len + len {
                    if stream.read_buf(buf).await.map_err(Exchange::Failed)? == 0 {
                        return Err(Exchange::Failed(eof("body shorter than Content-Length")));
                    }
                }
                buf[head_len..head_len + len].to_vec()
            }
            Framing::Chunked => loop {
                match dechunk(&buf[head_len..]).map_err(Exchange::Failed)? {
                    Some(body) => break body,
                    None => {
                        if stream.read_buf(buf).await.map_err(Exchange::Failed)? == 0 {
                            return Err(Exchange::Failed(eof("chunked body cut short")));
                        }
                    }
                }
            },
            Framing::UntilClose => {
                while stream.read_buf(buf).await.map_err(Exchange::Failed)? != 0 {}
                buf[head_len..].to_vec()
            }
        };
        let keep_alive = head.keep_alive && !matches!(head.framing, Framing::UntilClose);
        Ok((
            Response {
                status: head.status,
                body,
            },
            keep_alive,
        ))
    }
}

enum Exchange {
    NothingRead(io::Error),
    Failed(io::Error),
}

enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

struct Head {
    status: u16,
    keep_alive: bool,
    framing: Framing,
}

impl Head {
    fn parse(head: &[u8]) -> io::Result<Head> {
        let text = std::str::from_utf8(head).map_err(|_| bad("reply head is not UTF-8"))?;
        let mut lines = text.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default();
        let status = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad(&format!("bad status line {status_line:?}")))?;
        // HTTP/1.0 closes unless it says otherwise; HTTP/1.1 stays open unless it says so.
        let mut keep_alive = version == "HTTP/1.1";
        let mut framing = Framing::UntilClose;
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                if !matches!(framing, Framing::Chunked) {
                    framing =
                        Framing::Length(value.parse().map_err(|_| bad("bad Content-Length"))?);
                }
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                if value.to_ascii_lowercase().contains("chunked") {
                    framing = Framing::Chunked;
                }
            } else if name.eq_ignore_ascii_case("connection") {
                let value = value.to_ascii_lowercase();
                if value.contains("close") {
                    keep_alive = false;
                } else if value.contains("keep-alive") {
                    keep_alive = true;
                }
            }
        }
        Ok(Head {
            status,
            keep_alive,
            framing,
        })
    }
}

/// The body of a complete chunked message, or None when more bytes are needed.
fn dechunk(mut data: &[u8]) -> io::Result<Option<Vec<u8>>> {
    let mut body = Vec::new();
    loop {
        let Some(line_end) = find(data, b"\r\n") else {
            return Ok(None);
        };
        let size_text = std::str::from_utf8(&data[..line_end]).map_err(|_| bad("chunk size"))?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| bad("chunk size"))?;
        data = &data[line_end + 2..];
        if size == 0 {
            // Trailers end with an empty line; none are expected, but wait for the end.
            return Ok(find(data, b"\r\n").map(|_| body));
        }
        if data.len() < size + 2 {
            return Ok(None);
        }
        body.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

fn eof(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, what.to_owned())
}

/// One `GET PATH` on a fresh connection, for readiness polls: the status, or None when the
/// server does not answer (yet).
pub async fn get_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut conn = Conn::new(addr);
    conn.connect().await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let reply = tokio::time::timeout(Duration::from_secs(5), conn.send(request.as_bytes()))
        .await
        .ok()?
        .ok()?;
    Some(reply.status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies() {
        assert_eq!(
            dechunk(b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n").unwrap(),
            Some(b"abcde".to_vec())
        );
        assert_eq!(dechunk(b"3\r\nab").unwrap(), None);
        assert_eq!(dechunk(b"3\r\nabc\r\n0\r\n").unwrap(), None);
    }

    #[test]
    fn heads() {
        let h = Head::parse(b"HTTP/1.0 200 OK\r\nContent-Type: text/xml\r\n\r\n").unwrap();
        assert!(!h.keep_alive && matches!(h.framing, Framing::UntilClose));
        let h = Head::parse(b"HTTP/1.1 200 OK\r\ncontent-length: 12\r\n\r\n").unwrap();
        assert!(h.keep_alive && matches!(h.framing, Framing::Length(12)));
        let h = Head::parse(b"HTTP/1.1 400 X\r\nConnection: close\r\nContent-Length: 1\r\n\r\n")
            .unwrap();
        assert!(!h.keep_alive && h.status == 400);
    }
}
