"""Records every OpenTelemetry Python SDK instrument type and exports it over OTLP/HTTP
twice (one export after each of two recording phases), with the temporality given, for
tests/it/app_metrics.rs.

Usage: emit_metrics.py OTLP_HTTP_URL cumulative|delta
Service name: metrics-<temporality>.
"""

import sys

from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import (
    Counter, Histogram, MeterProvider, ObservableCounter, ObservableGauge, ObservableUpDownCounter,
    UpDownCounter,
)
from opentelemetry.sdk.metrics.export import AggregationTemporality, PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource


def main():
    otlp, temporality = sys.argv[1:3]
    t = AggregationTemporality.DELTA if temporality == "delta" else AggregationTemporality.CUMULATIVE
    preferred = {k: t for k in (Counter, UpDownCounter, Histogram, ObservableCounter, ObservableUpDownCounter)}
    exporter = OTLPMetricExporter(endpoint=f"{otlp}/v1/metrics", preferred_temporality=preferred)
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(
        resource=Resource.create({"service.name": f"metrics-{temporality}", "service.instance.id": "i-1"}),
        metric_readers=[reader],
        views=[View(instrument_name="it.size", aggregation=ExponentialBucketHistogramAggregation(max_size=20))],
    )
    meter = provider.get_meter("it")
    phase = {"n": 0}
    requests = meter.create_counter("it.requests", unit="{request}", description="Requests served")
    sessions = meter.create_up_down_counter("it.active_sessions", unit="{session}")
    latency = meter.create_histogram("it.latency", unit="s")
    size = meter.create_histogram("it.size", unit="By")
    meter.create_observable_gauge("it.queue_depth", callbacks=[lambda o: [Observation(4, {"queue": "chat"})]])
    meter.create_observable_counter("it.cpu_time", unit="s",
                                    callbacks=[lambda o: [Observation(10.0 if phase["n"] == 0 else 15.0)]])
    meter.create_observable_up_down_counter("it.connections", callbacks=[lambda o: [Observation(7)]])

    route = {"route": "/chat"}
    requests.add(3, route)
    sessions.add(5)
    latency.record(0.2, route)
    latency.record(0.7, route)
    for v in (3, 5, 100):
        size.record(v)
    ok = provider.force_flush(10_000)
    phase["n"] = 1
    requests.add(4, route)
    sessions.add(-2)
    latency.record(3.0, route)
    ok = provider.force_flush(10_000) and ok
    provider.shutdown()
    sys.exit(0 if ok else "export did not finish")


if __name__ == "__main__":
    main()
