//! The platform side of a simulated session: the platform-connection funnel's events and
//! the calls to platform APIs made on the user's behalf.

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;

use super::Scenario;
use super::catalogue::*;
use super::session::{Generator, SECOND, Session, error_status};

impl Generator {
    /// A user walks the platform-connection funnel; some give up at OAuth or are refused.
    pub(super) fn connect_platform(&mut self, out: &mut Session, at: u64, user: &[KeyValue]) {
        let platform = self.rng.pick(PLATFORMS).name;
        let p = || vec![s("integration.platform", platform)];
        out.events
            .push(self.event(at, "platform_connect_initiated", p(), user));
        if self.rng.chance(0.15) {
            return;
        }
        out.events.push(self.event(at, "oauth_started", p(), user));
        if self.rng.chance(0.15) {
            let mut attrs = p();
            attrs.push(s("integration.failure_reason", "access_denied"));
            out.events
                .push(self.event(at, "platform_connection_failed", attrs, user));
            return;
        }
        out.events
            .push(self.event(at, "oauth_completed", p(), user));
        out.events
            .push(self.event(at, "platform_connected", p(), user));
    }

    /// A call to a platform API on the user's behalf.
    pub(super) fn platform_call(&mut self, out: &mut Session, at: u64, user_id: &str) {
        let r = &mut self.rng;
        let platform = r.pick(PLATFORMS);
        let down = self.scenario == Some(Scenario::PlatformOutage) && platform.name == "meta_graph";
        let status = if down {
            500
        } else if r.chance(0.04) {
            429
        } else if r.chance(0.02) {
            503
        } else {
            200
        };
        let ms = r.range(80.0, 900.0);
        let account = r.below(900_000) + 100_000;
        let path = platform.path.replace("{id}", &account.to_string());
        // One connection in ten has a token that runs out within a week.
        let expires_in = if r.chance(0.1) {
            r.below(6 * 86_400) + 3_600
        } else {
            30 * 86_400 + r.below(30 * 86_400)
        };
        let expires_at = at / SECOND + expires_in;
        let mut span = Span {
            trace_id: id16(r),
            span_id: id8(r),
            name: "POST".into(),
            kind: SpanKind::Client as i32,
            start_time_unix_nano: at,
            end_time_unix_nano: at + (ms * 1e6) as u64,
            attributes: vec![
                s("http.request.method", "POST"),
                s("url.full", format!("https://{}{path}", platform.host)),
                s("server.address", platform.host),
                i("http.response.status_code", status),
                s(
                    "integration.connection.id",
                    format!("{}-{user_id}", platform.name),
                ),
                i("integration.token.expires_at", expires_at as i64),
            ],
            ..Default::default()
        };
        if status >= 400 {
            span.status = Some(error_status("platform error"));
        }
        out.platform_spans.push(span);
    }
}
