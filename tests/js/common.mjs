// What every driver shares: its configuration, and the checks that make a driver fail
// loudly instead of exporting less than the test expects. Node built-ins only, so each
// client directory can import it.

/** The driver's configuration: one JSON object in argv[2].
 * { service, transport: "grpc" | "http/protobuf" | "http/json", grpc: "127.0.0.1:PORT",
 *   http: "http://127.0.0.1:PORT", llm: "http://127.0.0.1:PORT/RUN/v1", mode } */
export function config() {
  const c = JSON.parse(process.argv[2] ?? '{}');
  for (const key of ['service', 'transport', 'grpc', 'http', 'llm']) {
    if (!c[key]) throw new Error(`missing ${key} in the driver configuration`);
  }
  return c;
}

/** The OTLP endpoint URL for `signal` over `transport`, as the OTel JS exporters take it. */
export function endpoint(c, signal) {
  return c.transport === 'grpc' ? `http://${c.grpc}` : `${c.http}/v1/${signal}`;
}

/** Runs `call`, which must fail with an HTTP `status` from the fake provider. */
export async function mustFail(what, status, call) {
  try {
    await call();
  } catch (e) {
    const got = e?.statusCode ?? e?.status ?? e?.cause?.statusCode ?? e?.lastError?.statusCode;
    if (got !== status) throw new Error(`${what}: expected HTTP ${status}, got ${got}: ${e}`);
    console.log(what, 'failed as expected with', status);
    return;
  }
  throw new Error(`${what}: the call succeeded`);
}

/** Fails the driver when an export failed (the SDKs only log it). */
export function failOnExportErrors(diag, DiagLogLevel) {
  const errors = [];
  diag.setLogger({
    error: (...a) => { errors.push(a.join(' ')); console.error('otel error:', ...a); },
    warn: (...a) => console.error('otel warn:', ...a),
    info: () => {}, debug: () => {}, verbose: () => {},
  }, DiagLogLevel.WARN);
  return () => {
    if (errors.length) throw new Error(`export errors: ${errors.join('; ')}`);
  };
}

const prompt = 'Hi, I am jane.doe@example.com';

/** The AI SDK calls every AI SDK driver makes. `ai` holds the SDK's functions
 * (generateText, streamText, embed, tool, stepCountIs), `common` the per-call telemetry
 * and identity options of that SDK version, `z` zod. */
export async function aiSdkCalls(ai, openai, common, z) {
  const generated = await ai.generateText({ ...common, model: openai.chat('gpt-4o'), prompt, temperature: 0.2 });
  console.log('generate', generated.usage.inputTokens, generated.usage.outputTokens);

  const streamed = ai.streamText({ ...common, model: openai.chat('gpt-4o'), prompt });
  let text = '';
  for await (const delta of streamed.textStream) text += delta;
  console.log('stream', text, (await streamed.usage).inputTokens);

  const withTool = await ai.generateText({
    ...common,
    model: openai.chat('gpt-4o'),
    prompt: 'What is the weather in Paris?',
    tools: {
      weather: ai.tool({
        description: 'The weather in a city',
        inputSchema: z.object({ city: z.string() }),
        execute: async ({ city }) => ({ city, celsius: 21 }),
      }),
    },
    stopWhen: ai.stepCountIs(2),
  });
  console.log('tool', withTool.steps.length, withTool.steps.map((s) => s.finishReason).join(','));

  const embedded = await ai.embed({ ...common, model: openai.embedding('text-embedding-3-small'), value: 'hello' });
  console.log('embedding', embedded.usage.tokens);

  const response = await ai.generateText({ ...common, model: openai.responses('gpt-4o'), prompt });
  console.log('responses', response.usage.inputTokens);
  const responseStream = ai.streamText({ ...common, model: openai.responses('gpt-4o'), prompt });
  await responseStream.consumeStream();
  console.log('responses stream', (await responseStream.usage).inputTokens);

  // The fake answers this one without usage, whatever the request asked for.
  const noUsage = ai.streamText({ ...common, model: openai.chat('gpt-4o'), prompt, headers: { 'x-fake-usage': 'none' } });
  await noUsage.consumeStream();
  console.log('stream without usage', (await noUsage.usage).inputTokens);

  await mustFail('429', 429, () => ai.generateText({ ...common, model: openai.chat('fail-429'), prompt }));
  await mustFail('500', 500, () => ai.generateText({ ...common, model: openai.chat('fail-500'), prompt }));
}

/** The `openai` client calls every openai-instrumentation driver makes, each inside
 * `step(what, call)`, where the driver sets the identity its instrumentation documents. */
export async function openaiCalls(client, step) {
  const messages = [{ role: 'user', content: prompt }];
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
    model: 'gpt-4o', input: prompt,
  })).usage.input_tokens);
  await step('responses stream', async () => {
    const stream = await client.responses.create({ model: 'gpt-4o', input: 'Hi', stream: true });
    let usage;
    for await (const event of stream) usage = event.response?.usage ?? usage;
    return usage.input_tokens;
  });
  await step('429', () => mustFail('429', 429, () => client.chat.completions.create({ model: 'fail-429', messages })));
  await step('500', () => mustFail('500', 500, () => client.chat.completions.create({ model: 'fail-500', messages })));
}
