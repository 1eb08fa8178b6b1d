"""Emits a realistic chatbot session of three users as OpenTelemetry log events, with the
Python SDK over OTLP/HTTP, for tests/it/analytics.rs: chat opened, conversations,
messages with intents, feedback, a platform connection through OAuth, a guest who
repeats a question and leaves.

Usage: emit_chat.py OTLP_HTTP_URL
"""

import sys

from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource


def main():
    otlp = sys.argv[1]
    provider = LoggerProvider(resource=Resource.create({"service.name": "chat-web"}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"{otlp}/v1/logs")))
    logger = provider.get_logger("it")

    def event(name, **attributes):
        attrs = {k.replace("__", "."): v for k, v in attributes.items()}
        logger.emit(LogRecord(event_name=name, severity_number=SeverityNumber.INFO, attributes=attrs))

    a = {"user__id": "user-a", "user__tier": "pro"}
    b = {"user__id": "user-b", "user__is_guest": True}
    c = {"user__id": "user-c"}
    # A: a conversation that is answered and closed, feedback, and a platform connection.
    event("chat_opened", chat__entry_point="widget", **a)
    event("conversation_created", session__id="c1", **a)
    event("message_sent", session__id="c1", chat__intent="billing", chat__intent__confidence=0.9, **a)
    event("message_received", session__id="c1", **a)
    event("message_feedback", session__id="c1", feedback__rating="up", gen_ai__response__model="gpt-4o", **a)
    event("chat_closed", session__id="c1", **a)
    event("platform_connect_initiated", integration__platform="google_ads", **a)
    event("oauth_started", integration__platform="google_ads", **a)
    event("oauth_completed", integration__platform="google_ads", **a)
    event("platform_connected", integration__platform="google_ads", **a)
    # B, a guest: asks twice about reports, gets no answer, leaves.
    event("chat_opened", chat__entry_point="widget", **b)
    event("message_sent", session__id="c2", chat__intent="reports", **b)
    event("message_sent", session__id="c2", chat__intent="reports", **b)
    # C: a first message from the help page, and a thumbs down.
    event("chat_opened", chat__entry_point="help_page", **c)
    event("first_chat_message", **c)
    event("message_feedback", feedback__rating="down", **c)
    ok = provider.force_flush(10_000)
    provider.shutdown()
    sys.exit(0 if ok else "export did not finish")


if __name__ == "__main__":
    main()
