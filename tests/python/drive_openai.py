"""Drives the real `openai` client under a real GenAI instrumentation, exporting to
llmwatch over OTLP/HTTP, against tests/python/fake_openai.py.

Usage: drive_openai.py MODE SERVICE_NAME OTLP_URL LLM_BASE_URL
MODE: v2 (opentelemetry-instrumentation-openai-v2; its semconv mode comes from
OTEL_SEMCONV_STABILITY_OPT_IN), traceloop (opentelemetry-instrumentation-openai) or
openinference (openinference-instrumentation-openai).

Makes four calls: a chat, a streamed chat with a usage chunk, an embedding, and a chat
the server refuses with 429. Prints one line per call and exits 0 when all telemetry
was exported.
"""

import sys

import openai
from opentelemetry import trace
from opentelemetry._logs import set_logger_provider
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor


def main():
    mode, service, otlp, llm = sys.argv[1:5]
    resource = Resource.create({"service.name": service})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{otlp}/v1/traces")))
    trace.set_tracer_provider(tracer_provider)
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter(endpoint=f"{otlp}/v1/logs")))
    set_logger_provider(logger_provider)

    if mode == "v2":
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
        OpenAIInstrumentor().instrument(tracer_provider=tracer_provider, logger_provider=logger_provider)
    elif mode == "traceloop":
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor
        OpenAIInstrumentor().instrument(tracer_provider=tracer_provider)
    elif mode == "openinference":
        from openinference.instrumentation.openai import OpenAIInstrumentor
        OpenAIInstrumentor().instrument(tracer_provider=tracer_provider)
    else:
        sys.exit(f"unknown mode {mode}")

    client = openai.OpenAI(base_url=llm, api_key="sk-test-not-a-key", max_retries=0)
    messages = [{"role": "user", "content": "Hi, I am jane.doe@example.com"}]
    r = client.chat.completions.create(model="gpt-4o", messages=messages, temperature=0.2, max_tokens=100, user="user-123")
    print("chat", r.usage.prompt_tokens, r.usage.completion_tokens)
    stream = client.chat.completions.create(model="gpt-4o", messages=messages, stream=True, stream_options={"include_usage": True})
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    print("stream", text)
    e = client.embeddings.create(model="text-embedding-3-small", input="hello")
    print("embedding", e.usage.prompt_tokens)
    try:
        client.chat.completions.create(model="fail-429", messages=messages)
        sys.exit("the 429 call succeeded")
    except openai.RateLimitError:
        print("rate limited")

    ok = tracer_provider.force_flush(10_000) and logger_provider.force_flush(10_000)
    tracer_provider.shutdown()
    logger_provider.shutdown()
    sys.exit(0 if ok else "export did not finish")


if __name__ == "__main__":
    main()
