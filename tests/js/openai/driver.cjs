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
  const { config, endpoint, failOnExportErrors, mustFail } = await import('../common.mjs');
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
  const messages = [{ role: 'user', content: 'Hi, I am jane.doe@example.com' }];

  await route('chat', async () => (await client.chat.completions.create({
    model: 'gpt-4o', messages, temperature: 0.2, max_tokens: 100,
  })).usage.prompt_tokens);
  await route('stream', async () => {
    const stream = await client.chat.completions.create({
      model: 'gpt-4o', messages, stream: true, stream_options: { include_usage: true },
    });
    let usage;
    for await (const chunk of stream) usage = chunk.usage ?? usage;
    return usage.prompt_tokens;
  });
  await route('stream without usage', async () => {
    const stream = await client.chat.completions.create({ model: 'gpt-4o', messages, stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    return text;
  });
  await route('tool', async () => {
    const tools = [{
      type: 'function',
      function: {
        name: 'weather', description: 'The weather in a city',
        parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
      },
    }];
    const ask = [{ role: 'user', content: 'What is the weather in Paris?' }];
    const first = await client.chat.completions.create({ model: 'gpt-4o', messages: ask, tools });
    const call = first.choices[0].message.tool_calls[0];
    const second = await client.chat.completions.create({
      model: 'gpt-4o', tools,
      messages: [...ask, first.choices[0].message,
        { role: 'tool', tool_call_id: call.id, content: '{"city":"Paris","celsius":21}' }],
    });
    return `${first.choices[0].finish_reason},${second.choices[0].finish_reason}`;
  });
  await route('embedding', async () => (await client.embeddings.create({
    model: 'text-embedding-3-small', input: 'hello',
  })).usage.prompt_tokens);
  await route('responses', async () => (await client.responses.create({
    model: 'gpt-4o', input: 'Hi, I am jane.doe@example.com',
  })).usage.input_tokens);
  await route('responses stream', async () => {
    const stream = await client.responses.create({ model: 'gpt-4o', input: 'Hi', stream: true });
    let usage;
    for await (const event of stream) usage = event.response?.usage ?? usage;
    return usage.input_tokens;
  });
  await route('429', () => mustFail('429', 429, () => client.chat.completions.create({ model: 'fail-429', messages })));
  await route('500', () => mustFail('500', 500, () => client.chat.completions.create({ model: 'fail-500', messages })));

  await tracerProvider.forceFlush();
  await loggerProvider.forceFlush();
  await tracerProvider.shutdown();
  await loggerProvider.shutdown();
  checkExports();
}

main().catch((e) => { console.error(e); process.exit(1); });
