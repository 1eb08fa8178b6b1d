// Vercel AI SDK 6 (`experimental_telemetry`) against tests/python/fake_openai.py.
// mode "sdk": the OpenTelemetry JS SDK with the OTLP exporter of `transport`.
// mode "vercel": @vercel/otel's registerOTel with its own exporter, configured through
// OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_PROTOCOL as a Next.js app would.
import { context, diag, DiagLogLevel, trace } from '@opentelemetry/api';
import { createOpenAI } from '@ai-sdk/openai';
import { embed, generateText, stepCountIs, streamText, tool } from 'ai';
import { z } from 'zod';
import { config, endpoint, failOnExportErrors, mustFail } from '../common.mjs';

const c = config();
const checkExports = failOnExportErrors(diag, DiagLogLevel);
let flush;
if (c.mode === 'vercel') {
  if (c.transport === 'grpc') throw new Error('@vercel/otel has no gRPC exporter');
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = c.http;
  process.env.OTEL_EXPORTER_OTLP_PROTOCOL = c.transport;
  const { registerOTel } = await import('@vercel/otel');
  registerOTel({ serviceName: c.service });
  flush = async () => {
    const provider = trace.getTracerProvider().getDelegate();
    await provider.forceFlush();
    await provider.shutdown();
  };
} else {
  const { AsyncLocalStorageContextManager } = await import('@opentelemetry/context-async-hooks');
  const { BasicTracerProvider, BatchSpanProcessor } = await import('@opentelemetry/sdk-trace-base');
  const { resourceFromAttributes } = await import('@opentelemetry/resources');
  const pkg = { grpc: 'grpc', 'http/protobuf': 'proto', 'http/json': 'http' }[c.transport];
  const { OTLPTraceExporter } = await import(`@opentelemetry/exporter-trace-otlp-${pkg}`);
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': c.service }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: endpoint(c, 'traces') }))],
  });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(provider);
  flush = async () => { await provider.forceFlush(); await provider.shutdown(); };
}

const openai = createOpenAI({ baseURL: c.llm, apiKey: 'sk-test-not-a-key' });
// How the AI SDK 6 docs attach a user and a session: telemetry metadata.
const telemetry = {
  isEnabled: true,
  functionId: 'chat',
  metadata: { userId: 'user-js-1', sessionId: 'session-js-1' },
};
const prompt = 'Hi, I am jane.doe@example.com';
const common = { maxRetries: 0, experimental_telemetry: telemetry };

const generated = await generateText({ ...common, model: openai.chat('gpt-4o'), prompt, temperature: 0.2 });
console.log('generate', generated.usage.inputTokens, generated.usage.outputTokens);

const streamed = streamText({ ...common, model: openai.chat('gpt-4o'), prompt });
let text = '';
for await (const delta of streamed.textStream) text += delta;
console.log('stream', text, (await streamed.usage).inputTokens);

const withTool = await generateText({
  ...common,
  model: openai.chat('gpt-4o'),
  prompt: 'What is the weather in Paris?',
  tools: {
    weather: tool({
      description: 'The weather in a city',
      inputSchema: z.object({ city: z.string() }),
      execute: async ({ city }) => ({ city, celsius: 21 }),
    }),
  },
  stopWhen: stepCountIs(2),
});
console.log('tool', withTool.steps.length, withTool.steps.map((s) => s.finishReason).join(','));

const embedded = await embed({ ...common, model: openai.embedding('text-embedding-3-small'), value: 'hello' });
console.log('embedding', embedded.usage.tokens);

const response = await generateText({ ...common, model: openai.responses('gpt-4o'), prompt });
console.log('responses', response.usage.inputTokens);
const responseStream = streamText({ ...common, model: openai.responses('gpt-4o'), prompt });
await responseStream.consumeStream();
console.log('responses stream', (await responseStream.usage).inputTokens);

const noUsage = streamText({ ...common, model: openai.chat('gpt-4o'), prompt, headers: { 'x-fake-usage': 'none' } });
await noUsage.consumeStream();
console.log('stream without usage', (await noUsage.usage).inputTokens);

await mustFail('429', 429, () => generateText({ ...common, model: openai.chat('fail-429'), prompt }));
await mustFail('500', 500, () => generateText({ ...common, model: openai.chat('fail-500'), prompt }));

await flush();
checkExports();
