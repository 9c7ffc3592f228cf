//! Telling HTTP/2 (with prior knowledge) from HTTP/1 on a new connection,
//! and reading an HTTP/1 connection's first head.

use bytes::{Buf, Bytes, BytesMut};
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;

/// The connection preface every HTTP/2 client sends first (RFC 9113,
/// section 3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// How much a connection's first read may take: usually the whole first
/// request head, which hyper then parses without reading again.
const FIRST_READ: usize = 8192;

/// The most fields a request head may have; past it the server answers
/// 431.
pub const MAX_REQUEST_FIELDS: usize = 100;

/// The most bytes a request head may have; past it the server answers 431.
pub const MAX_REQUEST_HEAD: usize = 64 * 1024;

/// The protocol a client speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Protocol {
    Http1,
    Http2,
}

/// Reads the first bytes of `stream`, as many as it takes to tell HTTP/2's
/// preface from anything else (HTTP/1), and for HTTP/1 on to the end of
/// the first request head (or past [`MAX_REQUEST_HEAD`], or to a head
/// that cannot be parsed: hyper answers those), so that the time a client
/// takes to send it is counted once, from accept, by the caller's timeout
/// (hyper's own header timeout starts when it first reads). Returns the
/// protocol and the stream with those bytes put back in front, whose
/// writes fail once they made no progress for `stall`.
/// `UnexpectedEof` when the client closes before the protocol is told.
pub(crate) async fn sniff(
    mut stream: TcpStream,
    stall: Duration,
) -> io::Result<(Protocol, Rewound)> {
    let mut first = BytesMut::with_capacity(FIRST_READ);
    let protocol = loop {
        if stream.read_buf(&mut first).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let n = first.len().min(H2_PREFACE.len());
        if first[..n] != H2_PREFACE[..n] {
            break Protocol::Http1;
        }
        if n == H2_PREFACE.len() {
            break Protocol::Http2;
        }
    };
    if protocol == Protocol::Http1 {
        while first.len() <= MAX_REQUEST_HEAD && head_is_partial(&first) {
            // At the end of the stream hyper sees the partial head too.
            if stream.read_buf(&mut first).await? == 0 {
                break;
            }
        }
    }
    let rewound = Rewound {
        first: first.freeze(),
        stream,
        stall,
        stalled: None,
    };
    Ok((protocol, rewound))
}

/// Whether `bytes` begin with a request head not yet complete (and not yet
/// wrong).
fn head_is_partial(bytes: &[u8]) -> bool {
    let mut fields = [httparse::EMPTY_HEADER; MAX_REQUEST_FIELDS];
    matches!(
        httparse::Request::new(&mut fields).parse(bytes),
        Ok(httparse::Status::Partial)
    )
}

/// A connection whose first bytes, read to find its protocol, are read
/// again before the rest, and whose writes fail with `TimedOut` once they
/// waited `stall` without progress: a client that stops reading does not
/// keep its connection, and what hyper buffered for it, for ever.
#[derive(Debug)]
pub(crate) struct Rewound {
    first: Bytes,
    stream: TcpStream,
    stall: Duration,
    /// Running while writes wait for the client.
    stalled: Option<Pin<Box<Sleep>>>,
}

impl Rewound {
    /// Passes on what a write (or flush) gave, starting the stall timer
    /// when it has to wait and stopping it when it did not.
    fn watch<T>(
        &mut self,
        cx: &mut Context<'_>,
        written: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if written.is_ready() {
            self.stalled = None;
            return written;
        }
        let stall = self.stall;
        let timer = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(stall)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::ErrorKind::TimedOut.into())),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for Rewound {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.first.has_remaining() {
            let n = self.first.len().min(buf.remaining());
            buf.put_slice(&self.first[..n]);
            self.first.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Rewound {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.watch(cx, written)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.watch(cx, written)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let flushed = Pin::new(&mut self.stream).poll_flush(cx);
        self.watch(cx, flushed)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
