import type { Ctx } from "../main";
export function renderVoice(_ctx: Ctx): () => void { return () => undefined; }
