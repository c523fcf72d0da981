import { defineConfig } from 'vite';

// The build lands in ../dist, which the Go package embeds and which is
// committed: scripts/test.sh rebuilds it and fails when it differs, so
// the output must depend on the sources and the lock file only.
export default defineConfig({
  base: '/console/',
  build: {
    outDir: '../dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    // One script and one stylesheet: the console is small, and fewer
    // files make the embedded set easy to review.
    cssCodeSplit: false,
    assetsInlineLimit: 0,
    reportCompressedSize: false,
  },
});
