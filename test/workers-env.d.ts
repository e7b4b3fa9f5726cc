declare module 'cloudflare:test' {
  interface ProvidedEnv extends Env {}
}
declare namespace Cloudflare {
  interface Env {
    FASTREG_TOKEN?: string;
    SIDECAR_ENROLL_TOKEN?: string;
    SIDECAR_KEY?: string;
    UPSTREAM_CREDENTIALS?: string;
  }
}
