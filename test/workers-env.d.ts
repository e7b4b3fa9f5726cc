declare module 'cloudflare:test' {
  interface ProvidedEnv extends Env {}
}
declare namespace Cloudflare {
  interface Env {
    FASTREG_TOKEN?: string;
    UPSTREAM_CREDENTIALS?: string;
  }
}
