"""Emits, with the OpenTelemetry Python SDK over OTLP/HTTP, one span per component and
platform, log records of several severities and a browser.web_vital event, with fixed
timestamps, for the health end-to-end test (tests/it/health.rs).

Usage: emit_health.py OTLP_HTTP_URL
"""

import sys

from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

T0 = 1_764_000_000_000_000_000
MS = 1_000_000


def providers(otlp, resource):
    tracer_provider = TracerProvider(resource=Resource.create(resource))
    tracer_provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{otlp}/v1/traces")))
    logger_provider = LoggerProvider(resource=Resource.create(resource))
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"{otlp}/v1/logs")))
    return tracer_provider, logger_provider


def span(tracer, name, kind, ms, attributes, error=False):
    s = tracer.start_span(name, kind=kind, attributes=attributes, start_time=T0)
    if error:
        s.set_status(Status(StatusCode.ERROR))
    s.end(end_time=T0 + ms * MS)


def main():
    otlp = sys.argv[1]
    tp, lp = providers(otlp, {"service.name": "health-api"})
    tracer = tp.get_tracer("it")
    span(tracer, "chat gpt-4o", SpanKind.CLIENT, 1500, {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 5})
    span(tracer, "SELECT users", SpanKind.CLIENT, 40, {
        "db.system.name": "postgresql", "db.operation.name": "SELECT", "db.collection.name": "users"})
    span(tracer, "POST", SpanKind.CLIENT, 700, {
        "http.request.method": "POST", "http.response.status_code": 200,
        "url.full": "https://analyticsdata.googleapis.com/v1beta/properties/123456:runReport"})
    span(tracer, "GET", SpanKind.CLIENT, 90, {
        "http.request.method": "GET", "http.response.status_code": 429,
        "server.address": "graph.facebook.com", "url.path": "/v19.0/me/accounts"}, error=True)
    span(tracer, "GET /api/chat/{id}", SpanKind.SERVER, 2500, {
        "http.request.method": "GET", "http.route": "/api/chat/{id}", "http.response.status_code": 500,
        "error.type": "500"}, error=True)
    logger = lp.get_logger("it")
    for n in (SeverityNumber.INFO, SeverityNumber.INFO, SeverityNumber.WARN):
        logger.emit(LogRecord(timestamp=T0, severity_number=n, body="a message"))
    logger.emit(LogRecord(timestamp=T0, severity_number=SeverityNumber.ERROR, body="failed",
                          attributes={"exception.type": "httpx.ReadTimeout"}))

    wtp, wlp = providers(otlp, {"service.name": "widget", "telemetry.sdk.language": "webjs"})
    span(wtp.get_tracer("it"), "documentLoad", SpanKind.INTERNAL, 250, {})
    wlp.get_logger("it").emit(LogRecord(timestamp=T0, event_name="browser.web_vital",
                                        body={"name": "lcp", "value": 1800.0, "delta": 1800.0, "id": "v3-1", "rating": "good"}))
    ok = all(p.force_flush(10_000) for p in (tp, lp, wtp, wlp))
    for p in (tp, lp, wtp, wlp):
        p.shutdown()
    sys.exit(0 if ok else "export did not finish")


if __name__ == "__main__":
    main()
