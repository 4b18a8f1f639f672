// @ts-check
/**
 * JSON requests to the KubeOrch API with the session's CSRF token, and
 * error messages a person can act on for every answer the API can give.
 * @module canvas/api
 */
"use strict";

/** An API answer that was not a success. */
export class ApiError extends Error {
  /**
   * @param {number} status HTTP status, or 0 when the server was not reached
   * @param {string} message what to tell the user
   * @param {any} [body] the parsed answer
   */
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }

  /** Whether the server could not be reached at all. */
  get offline() {
    return this.status === 0;
  }
}

/**
 * Read the CSRF token from the page (hx-headers on body) or the cookie.
 * @returns {string}
 */
export function csrfToken() {
  const headers = document.body?.getAttribute("hx-headers");
  if (headers) {
    try {
      const token = JSON.parse(headers)["X-CSRFToken"];
      if (token) return token;
    } catch {
      // Fall back to the cookie.
    }
  }
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

/**
 * Send a JSON request; resolve with the parsed body or reject with ApiError.
 * @param {string} method
 * @param {string} url
 * @param {any} [body]
 * @returns {Promise<any>}
 */
export async function request(method, url, body) {
  /** @type {RequestInit} */
  const init = {
    method,
    credentials: "same-origin",
    headers: { Accept: "application/json", "X-CSRFToken": csrfToken() },
  };
  if (body !== undefined) {
    /** @type {Record<string,string>} */ (init.headers)["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch {
    throw new ApiError(0, "The server cannot be reached. Check your connection.");
  }
  const parsed = await parseBody(response);
  if (response.ok) return parsed;
  throw new ApiError(response.status, describeError(response.status, parsed), parsed);
}

/** @param {Response} response */
async function parseBody(response) {
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return { detail: text.slice(0, 300) };
  }
}

/**
 * Turn an error answer into one sentence for the user.
 * @param {number} status
 * @param {any} body
 * @returns {string}
 */
export function describeError(status, body) {
  const detail = body && typeof body.detail === "string" ? body.detail : "";
  switch (status) {
    case 400:
      return detail || `The server refused the request: ${firstMessage(body)}`;
    case 401:
      return "Your session has ended. Log in again (your edits stay in this tab).";
    case 403:
      return detail ? `Not allowed: ${detail}` : "You are not allowed to do that.";
    case 404:
      return detail || "Not found: it may have been deleted.";
    case 409:
      return detail || "Refused in the current state.";
    case 413:
      return "The canvas is too large to send.";
    case 429:
      return detail || "Too many requests; wait a moment and try again.";
    default:
      if (status >= 500) return `The server failed (${status}). Try again in a moment.`;
      return detail || `Unexpected answer ${status}.`;
  }
}

/**
 * Return the first message found anywhere in a DRF error body.
 * @param {any} body
 * @returns {string}
 */
export function firstMessage(body) {
  if (typeof body === "string") return body;
  if (Array.isArray(body)) {
    for (const item of body) {
      const found = firstMessage(item);
      if (found) return found;
    }
    return "";
  }
  if (body && typeof body === "object") {
    for (const [key, value] of Object.entries(body)) {
      const found = firstMessage(value);
      if (found) return key === "detail" || key === "non_field_errors" ? found : `${key}: ${found}`;
    }
  }
  return "";
}
