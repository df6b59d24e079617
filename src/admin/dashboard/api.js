// The admin API, called from the page: same-origin `fetch` with the
// bearer token the user gave (kept in this tab's sessionStorage).

const TOKEN_KEY = "tower-cdn-admin-token";

let token = sessionStorage.getItem(TOKEN_KEY) || "";
let unauthorized = () => {};
/** Endpoints this server does not have (404 NotFound): not asked again. */
const absent = new Set();

export function hasToken() {
  return token !== "";
}

/** Keeps `t` for this tab and sends it from now on. */
export function setToken(t) {
  token = t;
  sessionStorage.setItem(TOKEN_KEY, t);
}

/** Called with a message when the API answers 401. */
export function onUnauthorized(f) {
  unauthorized = f;
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** A same-origin call with the bearer token; the JSON answer or an ApiError. */
export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = "Bearer " + token;
  const init = { method, headers, credentials: "omit", cache: "no-store", redirect: "error" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (e) {
    // A token with characters a header cannot hold, or the server is down.
    throw new ApiError(0, "NetworkError", "cannot reach the admin API (" + e.message + ")");
  }
  let data = null;
  try {
    data = await resp.json();
  } catch (_) {
    data = null;
  }
  if (resp.ok) return data;
  const err = (data && data.Error) || {};
  if (resp.status === 401) unauthorized(token ? "That token was refused." : "");
  throw new ApiError(resp.status, err.Code || "", err.Message || resp.statusText || "HTTP " + resp.status);
}

/** An endpoint that older servers lack: null when it is not there. */
export async function optional(path) {
  const name = path.split("?")[0];
  if (absent.has(name)) return null;
  try {
    return await api("GET", path);
  } catch (e) {
    if (e.status === 404 && e.code === "NotFound") {
      absent.add(name);
      return null;
    }
    throw e;
  }
}

/** An error as one line for the page. */
export function describe(e) {
  if (e instanceof ApiError) return (e.code ? e.code + ": " : "") + e.message;
  return String(e && e.message ? e.message : e);
}
