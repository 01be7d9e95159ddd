// Thin client for Nova's REST API. Errors carry the API's `detail` as a readable message.

export class ApiError extends Error {
  constructor(public status: number, message: string, public retryAfter?: string | null) {
    super(message);
  }
}

const TOKEN_KEY = "nova.token";

export const auth = {
  get token(): string | null {
    return localStorage.getItem(TOKEN_KEY);
  },
  set(token: string): void {
    localStorage.setItem(TOKEN_KEY, token);
  },
  clear(): void {
    localStorage.removeItem(TOKEN_KEY);
  },
};

export function detailText(detail: unknown, status: number): string {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail
      .map((d) => {
        const item = d as { loc?: unknown[]; msg?: string };
        const where = (item.loc ?? []).filter((p) => p !== "body").join(".");
        return where ? `${where}: ${item.msg ?? "invalid"}` : item.msg ?? "invalid";
      })
      .join("; ");
  }
  return `Request failed (HTTP ${status})`;
}

export async function api<T = unknown>(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<T> {
  const h: Record<string, string> = { Accept: "application/json", ...headers };
  if (body !== undefined) h["Content-Type"] = "application/json";
  if (auth.token) h.Authorization = `Bearer ${auth.token}`;
  let res: Response;
  try {
    res = await fetch(path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, "Cannot reach the Nova server. Check your connection and try again.");
  }
  if (res.status === 204) return undefined as T;
  let data: unknown = null;
  const text = await res.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const detail = detailText((data as { detail?: unknown } | null)?.detail, res.status);
    if (res.status === 401 && path !== "/auth/login") auth.clear();
    const retry = res.headers.get("Retry-After");
    throw new ApiError(res.status, retry ? `${detail} (retry in ${retry}s)` : detail, retry);
  }
  return data as T;
}

export interface User {
  id: string;
  email: string;
  name?: string | null;
  trial_active: boolean;
  trial_minutes_remaining: number;
  created_at: string;
}

export interface TokenResponse {
  access_token: string;
  user: User;
}

export interface CallResult {
  call_id: string;
  context_id: string;
  phone: string;
  lead_name?: string | null;
  status: string;
  expires_in_seconds: number;
  message?: string | null;
}

export interface BatchResponse {
  calls: CallResult[];
  total: number;
  dispatched: number;
  failed: number;
}
