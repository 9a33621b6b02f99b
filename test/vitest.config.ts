import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // real servers (Prism, SMTP, Postgres) start inside tests: give them time, and keep each file in its own process
    testTimeout: 30_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
