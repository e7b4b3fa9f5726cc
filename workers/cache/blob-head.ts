import type { Digest } from '../shared/oci/index.js';
import { pullScope, type SelectedUpstream } from '../upstream/select.js';
import { blobHeaders } from './blob-store.js';

/** HEAD of a blob that is not stored: asks the upstream (HEAD) without fetching or storing it. */
export async function headUpstreamBlob(upstream: SelectedUpstream, digest: Digest): Promise<Response> {
  const { response } = await upstream.client.request({
    method: 'HEAD',
    path: `/v2/${upstream.repository}/blobs/${digest.value}`,
    scope: pullScope(upstream.repository),
    notFound: 'BLOB_UNKNOWN',
    what: `blob ${digest.value} of ${upstream.repository}`,
  });
  response.body?.cancel().catch(() => undefined);
  const length = response.headers.get('Content-Length');
  const headers = blobHeaders(digest, Number(length ?? 0), 'upstream');
  if (length === null) headers.delete('Content-Length');
  return new Response(null, { headers });
}
