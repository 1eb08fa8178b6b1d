//! The admin server: `/metrics` for Prometheus, `/healthz` and `/readyz` for orchestrators,
//! `POST /admin/forget` to forget a user.
//!
//! `/readyz` answers 200 only once every listener is bound, and 503 again as soon as
//! shutdown starts, so a load balancer stops sending before the receivers close.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::StatusCode;
use http::header::{self, HeaderMap, HeaderValue};
use prometheus_client::registry::Registry;

use crate::metrics::exposition::{self, Format};

/// What the admin endpoints read.
pub struct AdminState {
    /// The registry `/metrics` renders.
    pub registry: Arc<Registry>,
    /// Whether every listener is bound and shutdown has not begun.
    pub ready: AtomicBool,
    /// Apps' own metrics, appended to the registry's.
    pub app_metrics: Option<Arc<crate::metrics::otlp::AppMetrics>>,
    /// Bearer tokens `/metrics` and `/admin/*` require, when configured.
    pub auth: Option<crate::net::auth::Auth>,
    /// `llmwatch_admin_refused_requests_total`: requests refused for want of a token.
    pub refused: prometheus_client::metrics::counter::Counter,
    /// Forgets a raw user id: returns its pseudonym and the per-user entries removed.
    /// `None` without a redaction processor (there are no pseudonyms).
    pub forget: Option<Forget>,
    /// `llmwatch_forgotten_users_total`.
    pub forgotten: prometheus_client::metrics::counter::Counter,
}

/// What `POST /admin/forget` runs.
pub type Forget = Arc<dyn Fn(&str) -> (String, usize) + Send + Sync>;

/// `POST /admin/forget` with the raw user id as the body: llmwatch hashes it with the
/// redaction key and removes the pseudonym from every per-user state. Only with `auth`.
async fn forget(State(state): State<Arc<AdminState>>, body: String) -> Response {
    if state.auth.is_none() {
        return (
            StatusCode::FORBIDDEN,
            "POST /admin/forget needs exporters.prometheus.auth\n",
        )
            .into_response();
    }
    let Some(forget) = &state.forget else {
        return (
            StatusCode::NOT_FOUND,
            "no redaction processor, so no pseudonyms\n",
        )
            .into_response();
    };
    let id = body.trim();
    if id.is_empty() || id.len() > 1024 {
        return (
            StatusCode::BAD_REQUEST,
            "the body must be the raw user id, 1 to 1024 bytes\n",
        )
            .into_response();
    }
    let (pseudonym, removed) = forget(id);
    state.forgotten.inc();
    tracing::info!(%pseudonym, removed, "forgot a user");
    let mut response =
        format!("{{\"pseudonym\":\"{pseudonym}\",\"removed\":{removed}}}\n").into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Refuses a request to a protected endpoint without a configured token: 401 with a
/// `WWW-Authenticate: Bearer` challenge, counted.
async fn authenticate(
    State(state): State<Arc<AdminState>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if let Some(auth) = &state.auth {
        let header = request
            .headers()
            .get(header::AUTHORIZATION)
            .map(HeaderValue::as_bytes);
        if auth.check(header).is_err() {
            state.refused.inc();
            let mut response =
                (StatusCode::UNAUTHORIZED, "a bearer token is required\n").into_response();
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return response;
        }
    }
    next.run(request).await
}

/// Builds the admin router.
pub fn router(state: Arc<AdminState>) -> Router {
    let protected = Router::new()
        .route("/metrics", get(metrics))
        .route("/admin/forget", axum::routing::post(forget))
        .route_layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            authenticate,
        ));
    Router::new()
        .merge(protected)
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .with_state(state)
}

async fn metrics(State(state): State<Arc<AdminState>>, headers: HeaderMap) -> Response {
    let format = Format::negotiate(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    match exposition::render(&state.registry, format) {
        Ok(mut body) => {
            if let Some(app) = &state.app_metrics {
                app.render(&mut body, format);
            }
            let mut response = body.into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(format.content_type()),
            );
            response
        }
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "could not render metrics\n",
        )
            .into_response(),
    }
}

async fn ready(State(state): State<Arc<AdminState>>) -> Response {
    if state.ready.load(Ordering::Acquire) {
        "ready\n".into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response()
    }
}

/// How the admin listener is served: TLS when configured, and a bound on connections.
pub struct AdminListener<'a> {
    /// `exporters.prometheus.tls`.
    pub tls: Option<&'a crate::net::tls::ServerTlsConfig>,
    /// Where refused connections are counted (protocol `admin`).
    pub conns: crate::receive::conn::ConnMetrics,
}

/// Most connections the admin port holds at once: scrapers and probes, not apps.
const ADMIN_MAX_CONNECTIONS: usize = 256;

/// Binds the admin listener; the returned future serves until `shutdown` resolves.
pub async fn bind<F: std::future::Future<Output = ()> + Send + 'static>(
    addr: SocketAddr,
    state: Arc<AdminState>,
    options: AdminListener<'_>,
    shutdown: F,
) -> std::io::Result<(
    SocketAddr,
    impl std::future::Future<Output = std::io::Result<()>> + Send + use<F>,
)> {
    use crate::net::tls;
    use crate::receive::{conn, serve};
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let tls = options
        .tls
        .map(|t| tls::TlsReloader::new(t, &[b"h2", b"http/1.1"]).map(Arc::new))
        .transpose()
        .map_err(std::io::Error::other)?;
    let timeout = std::time::Duration::from_secs(10);
    let listener = serve::Listener {
        listener,
        limit: conn::ConnLimit::new("admin", ADMIN_MAX_CONNECTIONS, 6 * timeout, options.conns),
        tls,
        header_timeout: timeout,
        http2_only: None,
    };
    Ok((local, serve::serve(listener, router(state), shutdown)))
}
