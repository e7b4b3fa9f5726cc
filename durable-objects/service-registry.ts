import { DurableObject } from 'cloudflare:workers';

export class ServiceRegistry extends DurableObject<Env> {}
