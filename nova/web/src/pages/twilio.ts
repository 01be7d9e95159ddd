import type { Ctx } from "../main";
export function renderTwilio(_ctx: Ctx): () => void { return () => undefined; }
