import type { TestProject } from 'vitest/node';
import { FakeUpstream } from './helpers/fake-upstream.js';

declare module 'vitest' {
  export interface ProvidedContext {
    fakeUpstreamUrl: string;
  }
}

/** Starts the fault-injecting fake upstream for the Workers-runtime tests, which drive it over HTTP. */
export default async function setup(project: TestProject) {
  const upstream = new FakeUpstream();
  project.provide('fakeUpstreamUrl', await upstream.start());
  return () => upstream.stop();
}
