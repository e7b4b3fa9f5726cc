import { DurableObject } from 'cloudflare:workers';

export class LeaseShard extends DurableObject<Env> {}
