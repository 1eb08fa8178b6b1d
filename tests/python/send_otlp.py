"""Sends traces, logs or metrics to llmwatch with the real OpenTelemetry Python SDK exporters.

Every batch the exporter reports as delivered is also encoded with the SDK's standard
protobuf encoder (opentelemetry-exporter-otlp-proto-common) and appended, hex-encoded, to
--record: the integration tests compare that with what llmwatch writes out.

Usage: send_otlp.py --signal traces --protocol grpc --compression gzip \
           --grpc-endpoint 127.0.0.1:4317 --http-endpoint http://127.0.0.1:4318 \
           --count 120 --record sent.hex
"""

import argparse
import logging
import sys

from opentelemetry.sdk.resources import Resource


def exporters(signal, protocol, compression, args):
    headers = {"authorization": f"Bearer {args.token}"} if args.token else None
    if protocol == "grpc":
        from grpc import Compression
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        comp = Compression.Gzip if compression == "gzip" else Compression.NoCompression
        kw = dict(endpoint=args.grpc_endpoint, insecure=True, compression=comp, headers=headers)
    elif protocol == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http import Compression
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        comp = Compression.Gzip if compression == "gzip" else Compression.NoCompression
        kw = dict(compression=comp, headers=headers)
    elif protocol == "http/json":
        from opentelemetry.exporter.otlp.common.http import Compression
        from opentelemetry.exporter.otlp.json.http._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.json.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.json.http.trace_exporter import OTLPSpanExporter

        comp = Compression.GZIP if compression == "gzip" else Compression.NONE
        kw = dict(compression=comp, headers=headers)
    else:
        raise SystemExit(f"unknown protocol {protocol}")
    if protocol.startswith("http"):
        path = {"traces": "/v1/traces", "logs": "/v1/logs", "metrics": "/v1/metrics"}[signal]
        kw["endpoint"] = args.http_endpoint + path
    cls = {"traces": OTLPSpanExporter, "logs": OTLPLogExporter, "metrics": OTLPMetricExporter}[signal]
    return cls(**kw)


def record(path, message):
    with open(path, "a") as f:
        f.write(message.SerializeToString().hex() + "\n")


def send_traces(exporter, args, resource):
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Recording(SpanExporter):
        def export(self, spans):
            result = exporter.export(spans)
            if result == SpanExportResult.SUCCESS:
                record(args.record, encode_spans(spans))
            else:
                print(f"export failed: {result}", file=sys.stderr)
            return result

        def shutdown(self):
            exporter.shutdown()

    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(Recording(), max_export_batch_size=50, schedule_delay_millis=60_000))
    tracer = provider.get_tracer("llmwatch.e2e", "1.0.0")
    for i in range(args.count):
        with tracer.start_as_current_span(f"chat gpt-4o-mini {i % 3}") as span:
            span.set_attribute("gen_ai.operation.name", "chat")
            span.set_attribute("gen_ai.request.model", "gpt-4o-mini")
            span.set_attribute("gen_ai.usage.input_tokens", 100 + i)
            span.set_attribute("gen_ai.request.temperature", 0.25)
            span.set_attribute("gen_ai.request.stream", i % 2 == 0)
            span.set_attribute("gen_ai.response.finish_reasons", ["stop", "length"])
            span.set_attribute("user.email", f"user{i}@example.com")
            span.set_attribute("unicode", "naïve café ✓ 日本語")
            span.add_event("gen_ai.content.prompt", {"gen_ai.prompt": "hello"})
            if args.pii:
                span.set_attribute("gen_ai.prompt.0.content", f"card 4111 1111 1111 1111, call +1 415 555 0{i:03d}, key sk-proj-{'x' * 40}")
                span.set_attribute("user.id", f"customer-{i}")
                span.add_event("feedback", {"comment": f"write to pii{i}@example.org"})
    provider.shutdown()


def send_logs(exporter, args, resource):
    from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter, LogRecordExportResult

    class Recording(LogRecordExporter):
        def export(self, batch):
            result = exporter.export(batch)
            if result == LogRecordExportResult.SUCCESS:
                record(args.record, encode_logs(batch))
            else:
                print(f"export failed: {result}", file=sys.stderr)
            return result

        def force_flush(self, timeout_millis=30_000):
            return True

        def shutdown(self):
            exporter.shutdown()

    provider = LoggerProvider(resource=resource)
    provider.add_log_record_processor(BatchLogRecordProcessor(Recording(), max_export_batch_size=50, schedule_delay_millis=60_000))
    handler = LoggingHandler(level=logging.DEBUG, logger_provider=provider)
    logger = logging.getLogger("llmwatch.e2e")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    levels = [logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR]
    for i in range(args.count):
        extra = {"conversation.id": f"conv-{i % 7}", "attempt": i}
        if args.pii:
            extra["payment"] = "IBAN DE89 3704 0044 0532 0130 00"
        logger.log(levels[i % 4], "message %d for user%d@example.com", i, i, extra=extra)
    provider.shutdown()


def send_metrics(exporter, args, resource):
    from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, PeriodicExportingMetricReader

    class Recording(MetricExporter):
        def __init__(self):
            super().__init__(
                preferred_temporality=exporter._preferred_temporality,
                preferred_aggregation=exporter._preferred_aggregation,
            )

        def export(self, metrics_data, timeout_millis=10_000, **kwargs):
            result = exporter.export(metrics_data, timeout_millis=timeout_millis)
            if result == MetricExportResult.SUCCESS:
                record(args.record, encode_metrics(metrics_data))
            else:
                print(f"export failed: {result}", file=sys.stderr)
            return result

        def force_flush(self, timeout_millis=10_000):
            return True

        def shutdown(self, timeout_millis=30_000, **kwargs):
            exporter.shutdown()

    reader = PeriodicExportingMetricReader(Recording(), export_interval_millis=3_600_000)
    provider = MeterProvider(resource=resource, metric_readers=[reader])
    meter = provider.get_meter("llmwatch.e2e", "1.0.0")
    tokens = meter.create_counter("gen_ai.client.token.usage.total", unit="{token}")
    active = meter.create_up_down_counter("chat.active_conversations")
    duration = meter.create_histogram("gen_ai.client.operation.duration", unit="s")
    gauge = meter.create_gauge("queue.depth")
    for i in range(args.count):
        attrs = {"gen_ai.request.model": ["gpt-4o", "claude-sonnet-4"][i % 2], "gen_ai.token.type": ["input", "output"][i % 2]}
        if args.pii:
            attrs["customer"] = f"buyer{i % 3}@example.net"
        tokens.add(10 + i, attrs)
        active.add(1 if i % 3 else -1, {"service.tier": "free"})
        duration.record(0.05 * (i % 40), attrs)
        gauge.set(i, {"queue": f"q{i % 4}"})
        if i % 40 == 39:
            reader.collect()
    provider.shutdown()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--signal", required=True, choices=["traces", "logs", "metrics"])
    p.add_argument("--protocol", required=True, choices=["grpc", "http/protobuf", "http/json"])
    p.add_argument("--compression", default="none", choices=["none", "gzip"])
    p.add_argument("--grpc-endpoint", default="127.0.0.1:4317")
    p.add_argument("--http-endpoint", default="http://127.0.0.1:4318")
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--record", required=True)
    p.add_argument("--token", default=None)
    p.add_argument("--run-id", default="run")
    p.add_argument("--pii", action="store_true", help="put PII in more locations, for the redaction tests")
    args = p.parse_args()
    attributes = {"service.name": "e2e-chatbot", "deployment.environment.name": "test", "run.id": args.run_id}
    if args.pii:
        attributes["host.owner"] = "ops-lead@example.com"
    resource = Resource.create(attributes)
    exporter = exporters(args.signal, args.protocol, args.compression, args)
    {"traces": send_traces, "logs": send_logs, "metrics": send_metrics}[args.signal](exporter, args, resource)


if __name__ == "__main__":
    main()
