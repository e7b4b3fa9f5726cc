import type { MiddlewareHandler } from 'hono';
import { OciError } from '../shared/oci/index.js';

export interface RequestLimitsOptions {
  maxUrlLength?: number;
  maxHeaderBytes?: number;
}

/** Rejects oversized URLs and header sets before any route runs. */
export function requestLimits({ maxUrlLength = 4096, maxHeaderBytes = 16 * 1024 }: RequestLimitsOptions = {}): MiddlewareHandler {
  return async (c, next) => {
    if (c.req.url.length > maxUrlLength) {
      throw new OciError('INVALID_REQUEST', `request URL is longer than ${maxUrlLength} characters`, { status: 414 });
    }
    let headerBytes = 0;
    c.req.raw.headers.forEach((value, key) => {
      headerBytes += key.length + value.length + 4;
    });
    if (headerBytes > maxHeaderBytes) {
      throw new OciError('HEADERS_TOO_LARGE', `request headers exceed ${maxHeaderBytes} bytes`);
    }
    await next();
  };
}
