import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApp, type TestApp } from '../helpers/app.ts';

describe('starting on a port that is taken', () => {
  let first: TestApp;
  beforeAll(async () => {
    first = await startApp();
  });
  afterAll(async () => {
    await first?.close();
  });

  it('fails with the listen error instead of running without answering, and the first server still answers', async () => {
    const port = new URL(first.url).port;
    await expect(startApp({ env: { PORT: port } })).rejects.toMatchObject({ code: 'EADDRINUSE' });
    expect((await first.query('{ simulation { tick } }')).simulation.tick).toBe(0);
  });
});
