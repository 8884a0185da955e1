import { defineConfig } from 'vite'

// The demo app (demo/) imports the SDK from src/ directly; the browser build needs no Node shims.
export default defineConfig({
  root: 'demo',
  server: { host: '127.0.0.1', port: 5173, strictPort: false },
  preview: { host: '127.0.0.1' },
  build: { outDir: '../dist-demo', emptyOutDir: true, target: 'es2022' },
})
