// Talking to the box's API: the bearer token, the {"detail"} error body, and what this box serves.

const PREFIX = "/api/v1";
const TOKEN_KEY = "netsenx.token";

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
    this.detail = detail;
  }
}

export const session = {
  token: () => sessionStorage.getItem(TOKEN_KEY),
  start: (token) => sessionStorage.setItem(TOKEN_KEY, token),
  end: () => sessionStorage.removeItem(TOKEN_KEY),
};

function urlFor(path, query) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query ?? {})) {
    if (value !== undefined && value !== null && value !== "") params.set(name, String(value));
  }
  const search = params.toString();
  return PREFIX + path + (search ? `?${search}` : "");
}

async function detailOf(response) {
  try {
    const body = await response.json();
    if (typeof body?.detail === "string" && body.detail) return body.detail;
  } catch {
    // Not JSON (a proxy's page, a cut connection): fall back to the status line below.
  }
  return `the box answered ${response.status} ${response.statusText}`.trim();
}

// A 401 on anything but the login itself means the session is over; a 423 may mean the box got sealed.
function announce(status, path, detail) {
  if (status === 401 && path !== "/auth/login") {
    window.dispatchEvent(new CustomEvent("netsenx:session-ended", { detail }));
  } else if (status === 423) {
    window.dispatchEvent(new CustomEvent("netsenx:locked", { detail }));
  }
}

// `file`: a File sent as the body itself (a threat-intel import), instead of a JSON `body`.
export async function send(method, path, { query, body, file } = {}) {
  const headers = { Accept: "application/json" };
  const token = session.token();
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (file !== undefined) headers["Content-Type"] = "application/octet-stream";
  let response;
  try {
    response = await fetch(urlFor(path, query), {
      method,
      headers,
      body: file ?? (body === undefined ? undefined : JSON.stringify(body)),
      cache: "no-store",
    });
  } catch {
    throw new ApiError(0, "cannot reach the box: check the network connection and try again");
  }
  if (!response.ok) {
    const detail = await detailOf(response);
    announce(response.status, path, detail);
    throw new ApiError(response.status, detail);
  }
  return response;
}

async function json(method, path, options) {
  const response = await send(method, path, options);
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

export const api = {
  get: (path, query) => json("GET", path, { query }),
  post: (path, body) => json("POST", path, { body }),
  put: (path, body) => json("PUT", path, { body }),
  patch: (path, body) => json("PATCH", path, { body }),
  upload: (path, query, file) => json("POST", path, { query, file }),
  delete: (path) => json("DELETE", path),
};

// The name the box gives a download (Content-Disposition), else the caller's.
function filenameOf(response, fallback) {
  const match = /filename="?([^";]+)"?/i.exec(response.headers.get("Content-Disposition") ?? "");
  return match ? match[1] : fallback;
}

// Save what an endpoint returns (a PDF, a proof trail) as a file.
export async function download(method, path, body, fallbackName) {
  const response = await send(method, path, { body });
  const blob = await response.blob();
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = filenameOf(response, fallbackName);
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  return blob;
}

// The paths this box serves, from its OpenAPI description ("/alerts/{alert_id}" form, no prefix), so
// pages for parts that are not installed yet stay hidden instead of failing.
export async function servedPaths() {
  const schema = await api.get("/schema/openapi.json");
  return new Set(
    Object.keys(schema?.paths ?? {}).map((path) => path.slice(PREFIX.length).replace(/\/$/, "") || "/"),
  );
}
