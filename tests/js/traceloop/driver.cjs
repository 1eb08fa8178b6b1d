// The `openai` client under Traceloop's @traceloop/node-server-sdk (OpenLLMetry JS)
// against tests/python/fake_openai.py. transport "http/protobuf" uses the SDK's own
// exporter (`baseUrl`); "grpc" and "http/json" hand it the OTel JS exporter of that
// transport (`exporter`). The user and session are association properties, as
// Traceloop's docs set them.
const { diag, DiagLogLevel } = require('@opentelemetry/api');
const traceloop = require('@traceloop/node-server-sdk');
const { default: OpenAI } = require('openai');

async function main() {
  const { config, endpoint, failOnExportErrors, openaiCalls } = await import('../common.mjs');
  const c = config();
  const options = {
    appName: c.service,
    disableBatch: true,
    traceContent: true,
    traceloopSyncEnabled: false,
    silenceInitializationMessage: true,
    instrumentModules: { openAI: OpenAI },
  };
  if (c.transport === 'http/protobuf') {
    options.baseUrl = c.http;
    options.apiKey = 'not-a-key';
  } else {
    const pkg = c.transport === 'grpc' ? 'grpc' : 'http';
    const { OTLPTraceExporter } = require(`@opentelemetry/exporter-trace-otlp-${pkg}`);
    options.exporter = new OTLPTraceExporter({ url: endpoint(c, 'traces') });
  }
  traceloop.initialize(options);
  const checkExports = failOnExportErrors(diag, DiagLogLevel);

  const client = new OpenAI({ baseURL: c.llm, apiKey: 'sk-test-not-a-key', maxRetries: 0 });
  const step = (what, call) => traceloop.withAssociationProperties(
    { user_id: 'user-js-1', session_id: 'session-js-1' },
    async () => console.log(what, (await call()) ?? ''),
  );

  await openaiCalls(client, step);

  await traceloop.forceFlush();
  checkExports();
}

main().catch((e) => { console.error(e); process.exit(1); });
