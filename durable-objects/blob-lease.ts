import { DurableObject } from 'cloudflare:workers';

export class BlobLease extends DurableObject<Env> {}
