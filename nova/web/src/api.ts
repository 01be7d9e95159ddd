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

// A validator's message as a person would say it: "Email: An email address must have an
// @-sign." rather than "email: value is not a valid email address: An email address…".
function friendlyMessage(msg: string): string {
  const text = msg
    .replace(/^Value error, /, "")
    .replace(/^value is not a valid email address: /, "")
    .replace(/^String should have at least (\d+) characters?$/, "Must be at least $1 characters.")
    .replace(/^String should have at most (\d+) characters?$/, "Must be at most $1 characters.")
    .replace(/^Field required$/, "Required.");
  const sentence = text.charAt(0).toUpperCase() + text.slice(1);
  return /[.!?]$/.test(sentence) ? sentence : `${sentence}.`;
}

function fieldLabel(loc: unknown[]): string {
  const parts = loc.filter((p) => p !== "body" && p !== "query" && p !== "path");
  const last = parts.length ? String(parts[parts.length - 1]) : "";
  if (!last) return "";
  const words = last.replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

export function detailText(detail: unknown, status: number): string {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail
      .map((d) => {
        const item = d as { loc?: unknown[]; msg?: string };
        const where = fieldLabel(item.loc ?? []);
        const msg = friendlyMessage(item.msg ?? "invalid");
        return where ? `${where}: ${msg}` : msg;
      })
      .join(" ");
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
  // A string body with its own Content-Type (a CSV upload, say) is sent as it is.
  const raw = typeof body === "string" && headers["Content-Type"] !== undefined;
  if (body !== undefined && !raw) h["Content-Type"] = "application/json";
  if (auth.token) h.Authorization = `Bearer ${auth.token}`;
  let res: Response;
  try {
    const payload = body === undefined ? undefined : raw ? (body as string) : JSON.stringify(body);
    res = await fetch(path, { method, headers: h, body: payload });
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
  error?: string | null;
}

export interface BatchResponse {
  calls: CallResult[];
  total: number;
  dispatched: number;
  failed: number;
}

// --- additions for the account pages (portals, billing, referrals, do-not-call, voice, Twilio) ---

export interface Features {
  voice_cloning: boolean;
  byo_twilio: boolean;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Query parameters of the hash route ("#/reset?email=a%40b.c" → {email: "a@b.c"}). */
export function hashParams(): URLSearchParams {
  const q = location.hash.indexOf("?");
  return new URLSearchParams(q >= 0 ? location.hash.slice(q + 1) : "");
}

/** A multipart upload with progress (fetch cannot report upload progress; XHR can). */
export function upload<T>(path: string, form: FormData, onProgress: (fraction: number) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    xhr.setRequestHeader("Accept", "application/json");
    if (auth.token) xhr.setRequestHeader("Authorization", `Bearer ${auth.token}`);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    };
    xhr.onerror = () => reject(new ApiError(0, "Cannot reach the Nova server. Check your connection and try again."));
    xhr.onload = () => {
      let data: unknown = null;
      try {
        data = xhr.responseText ? JSON.parse(xhr.responseText) : null;
      } catch {
        data = null;
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(data as T);
      else reject(new ApiError(xhr.status, detailText((data as { detail?: unknown } | null)?.detail, xhr.status)));
    };
    xhr.send(form);
  });
}
