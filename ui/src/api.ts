// Typed access to Sightline's HTTP API. Every response is checked before use, so a
// server of another version shows an error instead of a broken page.

export interface IngestCounters {
  protocol: string;
  signal: 'metrics' | 'logs' | 'traces';
  items: number;
  bytes: number;
  rejected: number;
}

export interface StoreSize {
  name: string;
  sizeBytes: number;
}

export interface Overview {
  version: string;
  revision: string;
  branch: string;
  buildDate: string;
  startTimeSeconds: number;
  uptimeSeconds: number;
  ready: boolean;
  readyMessage: string;
  ingest: IngestCounters[];
  stores: StoreSize[];
}

export class ApiError extends Error {}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function field<T>(object: Json, key: string, kind: 'string' | 'number' | 'boolean'): T {
  const value = object[key];
  if (typeof value !== kind) {
    throw new ApiError(`response field "${key}" should be a ${kind}, got ${JSON.stringify(value)}`);
  }
  return value as T;
}

function list(object: Json, key: string): Json[] {
  const value = object[key];
  if (!Array.isArray(value) || !value.every(isObject)) {
    throw new ApiError(`response field "${key}" should be a list of objects`);
  }
  return value;
}

/** Unwraps Prometheus's `{"status": "success", "data": ...}` envelope. */
export function unwrapEnvelope(body: unknown): Json {
  if (!isObject(body)) throw new ApiError('response is not a JSON object');
  if (body.status === 'error') {
    throw new ApiError(typeof body.error === 'string' ? body.error : 'the server reported an error');
  }
  if (body.status !== 'success' || !isObject(body.data)) {
    throw new ApiError('response has no "data" object');
  }
  return body.data;
}

export function parseOverview(body: unknown): Overview {
  const data = unwrapEnvelope(body);
  const signals = ['metrics', 'logs', 'traces'];
  return {
    version: field(data, 'version', 'string'),
    revision: field(data, 'revision', 'string'),
    branch: field(data, 'branch', 'string'),
    buildDate: field(data, 'buildDate', 'string'),
    startTimeSeconds: field(data, 'startTimeSeconds', 'number'),
    uptimeSeconds: field(data, 'uptimeSeconds', 'number'),
    ready: field(data, 'ready', 'boolean'),
    readyMessage: field(data, 'readyMessage', 'string'),
    ingest: list(data, 'ingest').map((row) => {
      const signal = field<string>(row, 'signal', 'string');
      if (!signals.includes(signal)) throw new ApiError(`unknown signal "${signal}"`);
      return {
        protocol: field(row, 'protocol', 'string'),
        signal: signal as IngestCounters['signal'],
        items: field(row, 'items', 'number'),
        bytes: field(row, 'bytes', 'number'),
        rejected: field(row, 'rejected', 'number'),
      };
    }),
    stores: list(data, 'stores').map((row) => ({
      name: field(row, 'name', 'string'),
      sizeBytes: field(row, 'sizeBytes', 'number'),
    })),
  };
}

async function getJson(path: string, signal?: AbortSignal): Promise<unknown> {
  const response = await fetch(path, { signal, headers: { Accept: 'application/json' } });
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    throw new ApiError(`${path} answered ${response.status} without JSON`);
  }
  if (!response.ok && !(isObject(body) && body.status === 'error')) {
    throw new ApiError(`${path} answered ${response.status}`);
  }
  return body;
}

export async function fetchOverview(signal?: AbortSignal): Promise<Overview> {
  return parseOverview(await getJson('/api/v1/status/sightline', signal));
}
