"""Sends spans to llmwatch over TLS or mutual TLS with the OpenTelemetry Python SDK's own
OTLP exporters, and exits non-zero unless every export succeeded.

Usage: emit_tls.py grpc|http ENDPOINT CA_FILE COUNT [CLIENT_CERT CLIENT_KEY]
"""

import sys

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult


def main():
    protocol, endpoint, ca, count = sys.argv[1:5]
    cert, key = (sys.argv[5], sys.argv[6]) if len(sys.argv) > 6 else (None, None)
    if protocol == "grpc":
        import grpc
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        read = lambda p: open(p, "rb").read() if p else None
        creds = grpc.ssl_channel_credentials(
            root_certificates=read(ca), private_key=read(key), certificate_chain=read(cert)
        )
        exporter = OTLPSpanExporter(endpoint=endpoint, insecure=False, credentials=creds, timeout=10)
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(
            endpoint=endpoint + "/v1/traces",
            certificate_file=ca,
            client_certificate_file=cert,
            client_key_file=key,
            timeout=10,
        )
    results = []

    class Recording(SpanProcessor):
        def on_end(self, span):
            results.append(exporter.export([span]))

    provider = TracerProvider(resource=Resource.create({"service.name": f"tls-{protocol}"}))
    provider.add_span_processor(Recording())
    tracer = provider.get_tracer("it")
    for i in range(int(count)):
        with tracer.start_as_current_span(f"tls-{i}"):
            pass
    failed = [r for r in results if r != SpanExportResult.SUCCESS]
    if failed or len(results) != int(count):
        print(f"{len(failed)} of {len(results)} exports failed", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
