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
