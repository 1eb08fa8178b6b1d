// Vercel AI SDK 6 (`experimental_telemetry`) against tests/python/fake_openai.py.
// mode "sdk": the OpenTelemetry JS SDK with the OTLP exporter of `transport`.
// mode "vercel": @vercel/otel's registerOTel with its own exporter, configured through
// OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_PROTOCOL as a Next.js app would.
import { context, diag, DiagLogLevel, trace } from '@opentelemetry/api';
import { createOpenAI } from '@ai-sdk/openai';
import { embed, generateText, stepCountIs, streamText, tool } from 'ai';
import { z } from 'zod';
import { aiSdkCalls, config, endpoint, failOnExportErrors } from '../common.mjs';

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
const common = { maxRetries: 0, experimental_telemetry: telemetry };

await aiSdkCalls({ embed, generateText, stepCountIs, streamText, tool }, openai, common, z);

await flush();
checkExports();
