//! Response bodies: whole, or streamed from a guest's writes.

use bytes::Bytes;
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use hyper::body::{Body, Frame, SizeHint};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use tokio::sync::mpsc;

/// The body of a response the server sends.
pub struct ResponseBody {
    body: BoxBody<Bytes, io::Error>,
    /// Whether it is streamed from a guest's writes (else whole).
    streamed: bool,
    /// Told when the body is done with: sent whole, or dropped with its
    /// connection.
    delivery: Option<Arc<Delivery>>,
}

impl ResponseBody {
    pub(crate) fn new(
        body: impl Body<Data = Bytes, Error = io::Error> + Send + Sync + 'static,
    ) -> Self {
        Self {
            body: BoxBody::new(body),
            streamed: false,
            delivery: None,
        }
    }

    /// A body streamed from a guest's writes.
    pub(crate) fn streamed(
        body: impl Body<Data = Bytes, Error = io::Error> + Send + Sync + 'static,
    ) -> Self {
        let mut streamed = Self::new(body);
        streamed.streamed = true;
        streamed
    }

    /// Whether it is streamed from a guest's writes: whole bodies are in
    /// memory once the response is made.
    pub(crate) fn is_streamed(&self) -> bool {
        self.streamed
    }

    /// Makes `delivery` told when the body is done with.
    pub(crate) fn tell_delivered(&mut self, delivery: Arc<Delivery>) {
        self.delivery = Some(delivery);
    }
}

impl Drop for ResponseBody {
    fn drop(&mut self) {
        if let Some(delivery) = &self.delivery {
            delivery.done();
        }
    }
}

/// Whether a response's body is done with: the server's connection sent it
/// whole (hyper drops a body once its last frame is written) or dropped it.
#[derive(Debug, Default)]
pub(crate) struct Delivery {
    done: AtomicBool,
    notify: tokio::sync::Notify,
}

impl Delivery {
    fn done(&self) {
        self.done.store(true, Ordering::Release);
        self.notify.notify_waiters();
    }

    /// Whether the body is done with.
    pub(crate) fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    /// Waits until the body is done with.
    pub(crate) async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            if self.is_done() {
                return;
            }
            notified.await;
        }
    }
}

impl std::fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseBody").finish_non_exhaustive()
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// An I/O error standing for an aborted response body.
pub(crate) fn aborted() -> io::Error {
    io::Error::other("the handler's response was aborted")
}

/// A whole body.
pub(crate) fn full(bytes: impl Into<Bytes>) -> ResponseBody {
    ResponseBody::new(http_body_util::Full::new(bytes.into()).map_err(|never| match never {}))
}

/// A body streamed from a guest's writes to `/response/txt`. It ends when
/// the sender is dropped: normally, unless the exchange set `abort` first
/// or fewer bytes than the declared length came, which the client then sees
/// as an incomplete response.
pub(crate) struct ChannelBody {
    chunks: mpsc::Receiver<Bytes>,
    /// Bytes left of the declared length, if any.
    remaining: Option<u64>,
    abort: Arc<AtomicBool>,
}

impl ChannelBody {
    pub(crate) fn new(
        chunks: mpsc::Receiver<Bytes>,
        length: Option<u64>,
        abort: Arc<AtomicBool>,
    ) -> Self {
        Self {
            chunks,
            remaining: length,
            abort,
        }
    }
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.chunks.poll_recv(cx) {
            Poll::Ready(Some(chunk)) => {
                if let Some(left) = &mut self.remaining {
                    *left = left.saturating_sub(chunk.len() as u64);
                }
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
            Poll::Ready(None) => {
                if self.abort.load(Ordering::Acquire) || self.remaining.is_some_and(|left| left > 0)
                {
                    Poll::Ready(Some(Err(aborted())))
                } else {
                    Poll::Ready(None)
                }
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self.remaining {
            Some(left) => SizeHint::with_exact(left),
            None => SizeHint::default(),
        }
    }
}
