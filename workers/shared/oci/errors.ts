import { API_VERSION, API_VERSION_HEADER } from '../http/headers.js';

// The one error type of FastReg. Thrown anywhere; turned into a response in one place
// (`ociErrorResponse`, used by the edge's and the sidecar's onError).

export const OCI_ERROR_STATUS = {
  // OCI Distribution codes
  BLOB_UNKNOWN: 404,
  BLOB_UPLOAD_INVALID: 400,
  BLOB_UPLOAD_UNKNOWN: 404,
  DIGEST_INVALID: 400,
  MANIFEST_BLOB_UNKNOWN: 404,
  MANIFEST_INVALID: 400,
  MANIFEST_UNKNOWN: 404,
  NAME_INVALID: 400,
  NAME_UNKNOWN: 404,
  SIZE_INVALID: 400,
  UNAUTHORIZED: 401,
  DENIED: 403,
  UNSUPPORTED: 405,
  TOOMANYREQUESTS: 429,
  // distribution's extras
  UNKNOWN: 500,
  UNAVAILABLE: 503,
  // FastReg's own, same envelope
  RANGE_INVALID: 416,
  INVALID_REQUEST: 400,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  HEADERS_TOO_LARGE: 431,
  UPSTREAM_FAILED: 502,
  UPSTREAM_TIMEOUT: 504,
} as const;

export type OciErrorCode = keyof typeof OCI_ERROR_STATUS;

export interface OciErrorOptions {
  status?: number;
  detail?: unknown;
  headers?: Record<string, string>;
  cause?: unknown;
}

export class OciError extends Error {
  readonly code: OciErrorCode;
  readonly status: number;
  readonly detail: unknown;
  readonly headers: Record<string, string>;

  constructor(code: OciErrorCode, message: string, options: OciErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'OciError';
    this.code = code;
    this.status = options.status ?? OCI_ERROR_STATUS[code];
    this.detail = options.detail;
    this.headers = options.headers ?? {};
  }

  toBody(): OciErrorBody {
    const entry: OciErrorBody['errors'][number] = { code: this.code, message: this.message };
    if (this.detail !== undefined) entry.detail = this.detail;
    return { errors: [entry] };
  }
}

export interface OciErrorBody {
  errors: { code: string; message: string; detail?: unknown }[];
}

export function isOciError(value: unknown): value is OciError {
  return value instanceof OciError;
}

/** Anything thrown becomes an OciError; unknown failures become UNKNOWN without leaking internals. */
export function toOciError(err: unknown): OciError {
  if (err instanceof OciError) return err;
  return new OciError('UNKNOWN', 'internal error', { cause: err });
}

/** The single place where errors become HTTP responses. HEAD responses carry no body. */
export function ociErrorResponse(err: unknown, method = 'GET'): Response {
  const error = toOciError(err);
  const headers = new Headers(error.headers);
  headers.set('Content-Type', 'application/json; charset=utf-8');
  headers.set(API_VERSION_HEADER, API_VERSION);
  if (method === 'HEAD') return new Response(null, { status: error.status, headers });
  return new Response(JSON.stringify(error.toBody()), { status: error.status, headers });
}
