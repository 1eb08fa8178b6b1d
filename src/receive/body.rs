//! Request bodies as they arrive: every byte counts against the receive budget (shared by
//! every listener of the receiver) until the body is read, and a body that pauses longer
//! than the idle timeout, or takes longer than the read timeout in all, ends in an error.
//! Slow uploads therefore hold a bounded number of bytes for a bounded time.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Buf;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

/// Bytes of request bodies being received, across the listeners of one receiver.
#[derive(Debug)]
pub struct ReceiveBudget {
    used: AtomicU64,
    max: u64,
}

impl ReceiveBudget {
    /// A budget of `max` bytes.
    pub fn new(max: u64) -> ReceiveBudget {
        ReceiveBudget {
            used: AtomicU64::new(0),
            max,
        }
    }

    fn take(&self, n: u64) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                (used + n <= self.max).then_some(used + n)
            })
            .is_ok()
    }

    fn give(&self, n: u64) {
        self.used.fetch_sub(n, Ordering::AcqRel);
    }

    /// Bytes held now.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Acquire)
    }
}

/// Why a body stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// Taking the next chunk would pass the receive budget.
    #[error("llmwatch is receiving more request bytes than its receive budget; retry later")]
    BudgetFull,
    /// No bytes for the idle timeout, or the whole body took longer than the read timeout.
    #[error("the request body arrived too slowly")]
    Timeout,
}

/// The timeouts of a body.
#[derive(Clone, Copy, Debug)]
pub struct BodyLimits {
    /// Longest pause between two chunks.
    pub idle: Duration,
    /// Longest whole read.
    pub total: Duration,
}

/// A body counted against a [`ReceiveBudget`] and bounded in time. The first error is
/// also kept in `failed`, for callers that only see the error through another layer.
pub struct BudgetBody<B> {
    inner: Pin<Box<B>>,
    budget: Arc<ReceiveBudget>,
    held: u64,
    limits: BodyLimits,
    idle: Pin<Box<Sleep>>,
    deadline: Instant,
    failed: Arc<OnceLock<BodyError>>,
}

impl<B> BudgetBody<B> {
    /// Wraps `inner`; the read timeout starts now.
    pub fn new(
        inner: B,
        budget: Arc<ReceiveBudget>,
        limits: BodyLimits,
        failed: Arc<OnceLock<BodyError>>,
    ) -> BudgetBody<B> {
        let now = Instant::now();
        BudgetBody {
            inner: Box::pin(inner),
            budget,
            held: 0,
            limits,
            idle: Box::pin(tokio::time::sleep_until(now + limits.idle)),
            deadline: now + limits.total,
            failed,
        }
    }

    fn fail<D>(&mut self, error: BodyError) -> Poll<Option<Result<Frame<D>, BoxError>>> {
        let _ = self.failed.set(error);
        Poll::Ready(Some(Err(Box::new(error))))
    }
}

impl<B> Drop for BudgetBody<B> {
    fn drop(&mut self) {
        self.budget.give(self.held);
    }
}

/// The error of a [`BudgetBody`]: its own, or the inner body's.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<B> Body for BudgetBody<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Data = B::Data;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, BoxError>>> {
        let this = &mut *self;
        match this.inner.as_mut().poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let n = frame.data_ref().map_or(0, |d| d.remaining() as u64);
                if n > 0 && !this.budget.take(n) {
                    return this.fail(BodyError::BudgetFull);
                }
                this.held += n;
                let next = (Instant::now() + this.limits.idle).min(this.deadline);
                this.idle.as_mut().reset(next);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                if Instant::now() >= this.deadline {
                    return this.fail(BodyError::Timeout);
                }
                ready!(this.idle.as_mut().poll(cx));
                this.fail(BodyError::Timeout)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http_body_util::BodyExt;

    #[test]
    fn the_budget_is_shared_and_given_back() {
        let b = ReceiveBudget::new(10);
        assert!(b.take(6));
        assert!(!b.take(5));
        b.give(6);
        assert!(b.take(10));
        assert_eq!(b.used(), 10);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_body_over_the_budget_fails_and_releases_what_it_held() {
        let budget = Arc::new(ReceiveBudget::new(4));
        let failed = Arc::new(OnceLock::new());
        let limits = BodyLimits {
            idle: Duration::from_millis(50),
            total: Duration::from_millis(500),
        };
        let body = BudgetBody::new(
            http_body_util::Full::new(Bytes::from_static(b"12345")),
            Arc::clone(&budget),
            limits,
            Arc::clone(&failed),
        );
        assert!(body.collect().await.is_err());
        assert_eq!(failed.get(), Some(&BodyError::BudgetFull));
        assert_eq!(budget.used(), 0);
    }

    /// One chunk, then nothing, forever.
    struct Stalled(bool);

    impl Body for Stalled {
        type Data = Bytes;
        type Error = BoxError;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
            if self.0 {
                return Poll::Pending;
            }
            self.0 = true;
            Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"ab")))))
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_stalled_body_times_out_and_gives_its_bytes_back() {
        let budget = Arc::new(ReceiveBudget::new(1 << 20));
        let failed = Arc::new(OnceLock::new());
        let limits = BodyLimits {
            idle: Duration::from_millis(50),
            total: Duration::from_millis(500),
        };
        let body = BudgetBody::new(
            Stalled(false),
            Arc::clone(&budget),
            limits,
            Arc::clone(&failed),
        );
        assert!(body.collect().await.is_err());
        assert_eq!(failed.get(), Some(&BodyError::Timeout));
        assert_eq!(budget.used(), 0);
    }
}
