// The `openai` client under Traceloop's @traceloop/node-server-sdk (OpenLLMetry JS)
// against tests/python/fake_openai.py. transport "http/protobuf" uses the SDK's own
// exporter (`baseUrl`); "grpc" and "http/json" hand it the OTel JS exporter of that
// transport (`exporter`). The user and session are association properties, as
// Traceloop's docs set them.
const { diag, DiagLogLevel } = require('@opentelemetry/api');
const traceloop = require('@traceloop/node-server-sdk');
const { default: OpenAI } = require('openai');

async function main() {
  const { config, endpoint, failOnExportErrors, mustFail } = await import('../common.mjs');
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
  const messages = [{ role: 'user', content: 'Hi, I am jane.doe@example.com' }];
  const step = (what, call) => traceloop.withAssociationProperties(
    { user_id: 'user-js-1', session_id: 'session-js-1' },
    async () => console.log(what, (await call()) ?? ''),
  );

  await step('chat', async () => (await client.chat.completions.create({
    model: 'gpt-4o', messages, temperature: 0.2, max_tokens: 100,
  })).usage.prompt_tokens);
  await step('stream', async () => {
    const stream = await client.chat.completions.create({
      model: 'gpt-4o', messages, stream: true, stream_options: { include_usage: true },
    });
    let usage;
    for await (const chunk of stream) usage = chunk.usage ?? usage;
    return usage.prompt_tokens;
  });
  await step('stream without usage', async () => {
    const stream = await client.chat.completions.create({ model: 'gpt-4o', messages, stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    return text;
  });
  await step('tool', async () => {
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
  await step('embedding', async () => (await client.embeddings.create({
    model: 'text-embedding-3-small', input: 'hello',
  })).usage.prompt_tokens);
  await step('responses', async () => (await client.responses.create({
    model: 'gpt-4o', input: 'Hi, I am jane.doe@example.com',
  })).usage.input_tokens);
  await step('responses stream', async () => {
    const stream = await client.responses.create({ model: 'gpt-4o', input: 'Hi', stream: true });
    let usage;
    for await (const event of stream) usage = event.response?.usage ?? usage;
    return usage.input_tokens;
  });
  await step('429', () => mustFail('429', 429, () => client.chat.completions.create({ model: 'fail-429', messages })));
  await step('500', () => mustFail('500', 500, () => client.chat.completions.create({ model: 'fail-500', messages })));

  await traceloop.forceFlush();
  checkExports();
}

main().catch((e) => { console.error(e); process.exit(1); });
