// The `openai` client under @opentelemetry/instrumentation-openai (traces and log events)
// against tests/python/fake_openai.py, exporting with the OpenTelemetry JS SDK over
// `transport`. As in a Next.js app, each LLM call runs inside a `POST /api/chat` server
// span, which is where the app sets `user.id` and `session.id`. Runs on Node 22.
const { context, diag, DiagLogLevel, logs, metrics, SpanKind, SpanStatusCode, trace } = require('@opentelemetry/api');
const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks');
const { BatchSpanProcessor, TracerProvider } = require('@opentelemetry/sdk-trace');
const { BatchLogRecordProcessor, LoggerProvider } = require('@opentelemetry/sdk-logs');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { OpenAIInstrumentation } = require('@opentelemetry/instrumentation-openai');

async function main() {
  const { config, endpoint, failOnExportErrors, openaiCalls } = await import('../common.mjs');
  const c = config();
  const checkExports = failOnExportErrors(diag, DiagLogLevel);
  const pkg = { grpc: 'grpc', 'http/protobuf': 'proto', 'http/json': 'http' }[c.transport];
  const { OTLPTraceExporter } = require(`@opentelemetry/exporter-trace-otlp-${pkg}`);
  const { OTLPLogExporter } = require(`@opentelemetry/exporter-logs-otlp-${pkg}`);
  const resource = resourceFromAttributes({ 'service.name': c.service });
  const tracerProvider = new TracerProvider({
    resource,
    spanProcessors: [new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url: endpoint(c, 'traces') }) })],
  });
  const loggerProvider = new LoggerProvider({
    resource,
    processors: [new BatchLogRecordProcessor({ exporter: new OTLPLogExporter({ url: endpoint(c, 'logs') }) })],
  });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(tracerProvider);
  logs.setGlobalLoggerProvider(loggerProvider);
  const instrumentation = new OpenAIInstrumentation({ captureMessageContent: true });
  instrumentation.setTracerProvider(tracerProvider);
  instrumentation.setLoggerProvider(loggerProvider);
  // Its metrics are not exported here (llmwatch derives its own from the spans), but the
  // instrumentation needs a meter provider to create its instruments.
  instrumentation.setMeterProvider(metrics.getMeterProvider());
  instrumentation.enable();
  // Required after the instrumentation is enabled, so that it patches the module.
  const { default: OpenAI } = require('openai');

  const client = new OpenAI({ baseURL: c.llm, apiKey: 'sk-test-not-a-key', maxRetries: 0 });
  const tracer = trace.getTracer('next.js', '15.5.0');
  // One request of the chat route: the server span carries the user and the session.
  const route = (what, call) => tracer.startActiveSpan('POST /api/chat', {
    kind: SpanKind.SERVER,
    attributes: {
      'http.request.method': 'POST', 'http.route': '/api/chat', 'url.path': '/api/chat',
      'user.id': 'user-js-1', 'session.id': 'session-js-1',
    },
  }, async (span) => {
    try {
      const out = await call();
      console.log(what, out ?? '');
    } catch (e) {
      span.setStatus({ code: SpanStatusCode.ERROR });
      span.setAttribute('http.response.status_code', 500);
      throw e;
    } finally {
      span.end();
    }
  });

  await openaiCalls(client, route);

  await tracerProvider.forceFlush();
  await loggerProvider.forceFlush();
  await tracerProvider.shutdown();
  await loggerProvider.shutdown();
  checkExports();
}

main().catch((e) => { console.error(e); process.exit(1); });
