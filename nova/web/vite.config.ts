import { defineConfig } from "vite";

// Built assets are served by the control plane (nova/api/web.py): no CDN at run time.
export default defineConfig({
  base: "/",
  build: { outDir: "dist", emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 700 },
  server: { proxy: { "^/(auth|me|calls|contexts|token|billing|v1|api|health)": "http://127.0.0.1:8000" } },
});
