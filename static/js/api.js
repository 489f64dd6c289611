// The one way the page scripts talk to the server (an ES module: `import { ... } from "./api.js"`).
// - csrfToken(): read from <meta name="csrf-token"> in templates/base.html, and nowhere else;
// - getJSON(url) / postJSON(url, body) / getText(url): same-origin fetches that resolve to the
//   body, or reject with an ApiError whose messages are what the server said went wrong,
//   in words a person can read (DRF's field errors flattened), never an empty list.

export function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

// A request the server refused (status is its HTTP status) or that never arrived (status 0).
export class ApiError extends Error {
  constructor(status, data, messages) {
    super(messages.join(" "));
    this.name = "ApiError";
    this.status = status;
    this.data = data;
    this.messages = messages;
  }
}

// DRF's error bodies, flattened: ["detail"], {"field": ["message"]}, {"errors": [...]}, ...
export function errorMessages(data) {
  if (Array.isArray(data)) return data.map(String);
  return Object.entries(data || {}).flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((m) => (
    k === "errors" || k === "non_field_errors" || k === "detail"
      ? String(m)
      : `${k}: ${typeof m === "string" ? m : JSON.stringify(m)}`)));
}

async function request(url, { method = "GET", body, accept = "application/json" } = {}) {
  const headers = { Accept: accept };
  if (method !== "GET") headers["X-CSRFToken"] = csrfToken();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url, {
      method,
      credentials: "same-origin",
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new ApiError(0, null, ["Network error: the server could not be reached."]);
  }
  if (response.ok) return response;
  let data = null;
  try { data = await response.json(); } catch (err) { /* not JSON: an HTML error page */ }
  const messages = errorMessages(data);
  throw new ApiError(response.status, data, messages.length ? messages : [`Request failed (HTTP ${response.status}).`]);
}

export async function getJSON(url) {
  return (await request(url)).json();
}

export async function postJSON(url, body) {
  const response = await request(url, { method: "POST", body: body || {} });
  return response.json().catch(() => ({}));
}

export async function getText(url, accept = "text/html") {
  return (await request(url, { accept })).text();
}
