//! The connection and body bounds of a receiver listener, and the process's
//! file-descriptor limit that they must fit in.

use std::time::Duration;

use super::body::BodyLimits;

/// The keys shared by `protocols.grpc` and `protocols.http`.
#[derive(Clone, Debug)]
pub struct ListenerLimits {
    /// Most connections open at once.
    pub max_connections: usize,
    /// Longest pause between two chunks of a request body.
    pub body_idle_timeout: Duration,
    /// Longest time to receive a whole request body.
    pub body_read_timeout: Duration,
    /// A connection that sends nothing for this long is closed.
    pub idle_timeout: Duration,
}

pub(super) fn default_max_connections() -> usize {
    1000
}
pub(super) fn default_body_idle_timeout() -> Duration {
    Duration::from_secs(10)
}
pub(super) fn default_body_read_timeout() -> Duration {
    Duration::from_secs(60)
}

/// File descriptors kept free of listeners: the admin port, queue and output files.
const RESERVED_FDS: u64 = 128;

impl ListenerLimits {
    pub(super) fn body(&self) -> BodyLimits {
        BodyLimits {
            idle: self.body_idle_timeout,
            total: self.body_read_timeout,
        }
    }

    /// `max_connections`, lowered (and logged) to half the file-descriptor limit less 128,
    /// so that two listeners at their bound leave descriptors for everything else.
    pub(super) fn connections(&self, protocol: &str) -> usize {
        let soft = rlimit::Resource::NOFILE
            .get()
            .map_or(u64::MAX, |(soft, _)| soft);
        let fit = usize::try_from(soft.saturating_sub(RESERVED_FDS) / 2).unwrap_or(usize::MAX);
        if self.max_connections > fit {
            tracing::warn!(
                protocol,
                configured = self.max_connections,
                used = fit.max(1),
                fd_limit = soft,
                "max_connections lowered to fit the file-descriptor limit"
            );
        }
        self.max_connections.min(fit).max(1)
    }
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit and logs the limit in use.
pub fn raise_fd_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::info!(limit, "file-descriptor limit"),
        Err(error) => {
            let soft = rlimit::Resource::NOFILE.get().map(|(s, _)| s).ok();
            tracing::warn!(%error, ?soft, "could not raise the file-descriptor limit");
        }
    }
}
