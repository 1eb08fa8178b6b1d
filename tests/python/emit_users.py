"""Emits one message_sent log event per user id user-FROM .. user-(TO-1), with the
OpenTelemetry Python SDK over OTLP/HTTP, for the fleet unique-users test.

Usage: emit_users.py OTLP_HTTP_URL FROM TO
"""

import sys

from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource


def main():
    otlp, start, end = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    provider = LoggerProvider(resource=Resource.create({"service.name": "chat-web"}))
    provider.add_log_record_processor(BatchLogRecordProcessor(
        OTLPLogExporter(endpoint=f"{otlp}/v1/logs"), max_export_batch_size=512, max_queue_size=20_000))
    logger = provider.get_logger("it")
    for i in range(start, end):
        logger.emit(LogRecord(event_name="message_sent", severity_number=SeverityNumber.INFO,
                              attributes={"user.id": f"user-{i}"}))
    ok = provider.force_flush(30_000)
    provider.shutdown()
    sys.exit(0 if ok else "export did not finish")


if __name__ == "__main__":
    main()
