// ava configuration for the slow cluster test (make cluster-test); package.json's
// configuration (`make test`) leaves test/cluster/ out on purpose.
export default {
  files: ['test/cluster/**/*.test.ts'],
  extensions: { ts: 'module' },
  timeout: '10m',
  concurrency: 1,
};
