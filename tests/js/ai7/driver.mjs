// Vercel AI SDK 7 (`telemetry`, `runtimeContext`) with @ai-sdk/otel against
// tests/python/fake_openai.py, exporting with the OpenTelemetry JS SDK over `transport`.
// mode "otel": OpenTelemetry() (GenAI semantic-convention spans); mode "legacy":
// LegacyOpenTelemetry() (the AI SDK 6 style `ai.*` spans). Runs on Node 22.
import { context, diag, DiagLogLevel, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { LegacyOpenTelemetry, OpenTelemetry } from '@ai-sdk/otel';
import { createOpenAI } from '@ai-sdk/openai';
import { embed, generateText, registerTelemetry, stepCountIs, streamText, tool } from 'ai';
import { z } from 'zod';
import { config, endpoint, failOnExportErrors, mustFail } from '../common.mjs';

const c = config();
const checkExports = failOnExportErrors(diag, DiagLogLevel);
const pkg = { grpc: 'grpc', 'http/protobuf': 'proto', 'http/json': 'http' }[c.transport];
const { OTLPTraceExporter } = await import(`@opentelemetry/exporter-trace-otlp-${pkg}`);
const provider = new BasicTracerProvider({
  resource: resourceFromAttributes({ 'service.name': c.service }),
  spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: endpoint(c, 'traces') }))],
});
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
trace.setGlobalTracerProvider(provider);
// runtimeContext: true makes the integration emit the runtime context
// (`ai.settings.context.*`); the legacy one always does.
registerTelemetry(c.mode === 'legacy' ? new LegacyOpenTelemetry() : new OpenTelemetry({ runtimeContext: true }));

const openai = createOpenAI({ baseURL: c.llm, apiKey: 'sk-test-not-a-key' });
// How the AI SDK 7 docs attach a user and a session: the runtime context, with the keys
// telemetry may see listed in `telemetry.includeRuntimeContext`.
const common = {
  maxRetries: 0,
  runtimeContext: { userId: 'user-js-1', sessionId: 'session-js-1' },
  telemetry: { functionId: 'chat', includeRuntimeContext: { userId: true, sessionId: true } },
};
const prompt = 'Hi, I am jane.doe@example.com';

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

await provider.forceFlush();
await provider.shutdown();
checkExports();
