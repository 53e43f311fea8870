import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// The renderer is served from file:// (Electron) and from the loopback server (browser), so every
// asset path is relative. No inline scripts or styles are emitted: the CSP in index.html forbids them.
export default defineConfig({
  root: import.meta.dirname,
  base: './',
  plugins: [react()],
  build: {
    outDir: '../dist/renderer',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 1200,
    modulePreload: { polyfill: false },
  },
  server: { host: '127.0.0.1', strictPort: false },
});
