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
import { aiSdkCalls, config, endpoint, failOnExportErrors } from '../common.mjs';

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

await aiSdkCalls({ embed, generateText, stepCountIs, streamText, tool }, openai, common, z);

await provider.forceFlush();
await provider.shutdown();
checkExports();
