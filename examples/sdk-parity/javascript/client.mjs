/**
 * A small retrying HTTP client: the JavaScript half of the sdk-parity example.
 *
 * `RetryingClient` wraps any transport with an `httpGet(url, signal)` that returns a
 * promise of a response `{ status, body }` and rejects with the signal's reason when the
 * signal aborts (as `fetch(url, { signal })` does), and adds what an SDK adds around its
 * HTTP calls:
 *
 * - retries with exponential backoff: a 5xx response, a transport error or a timeout is
 *   tried again after `backoffMs`, then twice that, and so on (at most `maxBackoffMs`),
 *   `attempts` tries in all; a 4xx response is the caller's mistake and is not retried;
 * - a per-request timeout: each attempt gets its own AbortController, aborted after
 *   `timeoutMs`, so the request itself stops (MDN, "AbortController");
 * - a circuit breaker: after `failureThreshold` failed attempts in a row, every send is
 *   refused at once (`CircuitOpenError`) until `resetAfterMs` have passed; then one
 *   attempt is let through, and its success closes the circuit again;
 * - cancellation, fetch's way: `getJson(url, { signal })`; when the signal aborts, the
 *   request in flight (or the backoff sleep) stops and the promise rejects with
 *   `signal.reason`, which no retry catches.
 *
 * python/client.py beside this folder is the same client written for asyncio; the
 * scenarios in ../scenarios check that the two do the same thing. The functions at the
 * end of this file are the ones those scenarios bind: the kit calls
 * `getJson(api, url, signal)` with its simulated world as the transport, and its virtual
 * `setTimeout`, `clearTimeout` and `performance.now` in place of the real ones.
 */

/** Base class of the errors this client throws; `name` is the class's own name. */
export class ClientError extends Error {
  constructor(message, options) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A response whose status is not 2xx, when the client does not retry it. */
export class HttpError extends ClientError {
  constructor(url, status) {
    super(`GET ${url}: HTTP ${status}`);
    this.url = url;
    this.status = status;
  }
}

/** One attempt had no response within the per-request timeout. */
export class RequestTimeoutError extends ClientError {
  constructor(url, timeoutMs) {
    super(`GET ${url}: no response in ${timeoutMs} ms`);
    this.url = url;
  }
}

/** Every attempt failed; `cause` is the last attempt's error. */
export class RetriesExhaustedError extends ClientError {
  constructor(attempts, last) {
    super(`gave up after ${attempts} attempts: ${last.message}`, { cause: last });
    this.attempts = attempts;
  }
}

/** The circuit breaker is open: the request was not sent. */
export class CircuitOpenError extends ClientError {
  constructor(url) {
    super(`circuit open: GET ${url} not sent`);
    this.url = url;
  }
}

/** Counts failed attempts in a row; open from the `threshold`-th for `resetAfterMs`. */
export class CircuitBreaker {
  failures = 0;
  openedAt = null;

  constructor(threshold, resetAfterMs) {
    this.threshold = threshold;
    this.resetAfterMs = resetAfterMs;
  }

  allows(now) {
    // Half-open once resetAfterMs has passed: the next attempt goes through, and its
    // failure opens the circuit again (failures is still at the threshold).
    return this.openedAt === null || now - this.openedAt >= this.resetAfterMs;
  }

  succeeded() {
    this.failures = 0;
    this.openedAt = null;
  }

  failed(now) {
    this.failures += 1;
    if (this.failures >= this.threshold) this.openedAt = now;
  }
}

/** Resolves after `ms`, or rejects with `signal.reason` as soon as the signal aborts. */
function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    signal?.throwIfAborted();
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** GET JSON through `transport` with retries, a per-request timeout and a circuit breaker. */
export class RetryingClient {
  constructor(transport, {
    attempts = 3,
    timeoutMs = 10_000,
    backoffMs = 500,
    maxBackoffMs = 30_000,
    failureThreshold = 5,
    resetAfterMs = 30_000,
    onRetry = null,
  } = {}) {
    this.transport = transport;
    this.attempts = attempts;
    this.timeoutMs = timeoutMs;
    this.backoffMs = backoffMs;
    this.maxBackoffMs = maxBackoffMs;
    this.breaker = new CircuitBreaker(failureThreshold, resetAfterMs);
    this.onRetry = onRetry; // onRetry(attempt, delayMs, error), before each backoff sleep
  }

  /** The body of `GET url`; rejects with a ClientError, or `signal.reason` once it aborts. */
  async getJson(url, { signal } = {}) {
    for (let attempt = 1; attempt <= this.attempts; attempt += 1) {
      signal?.throwIfAborted();
      if (!this.breaker.allows(performance.now())) throw new CircuitOpenError(url);
      let failure;
      try {
        const response = await this.send(url, signal);
        if (response.status < 500) {
          this.breaker.succeeded(); // the server answered: it is up
          if (response.status >= 200 && response.status < 300) return response.body;
          throw new HttpError(url, response.status);
        }
        failure = new HttpError(url, response.status);
      } catch (error) {
        // The caller's abort and a 4xx end the call; anything else is worth another try.
        if (signal?.aborted || error instanceof HttpError) throw error;
        failure = error;
      }
      this.breaker.failed(performance.now());
      if (attempt === this.attempts) throw new RetriesExhaustedError(attempt, failure);
      const delayMs = Math.min(this.backoffMs * 2 ** (attempt - 1), this.maxBackoffMs);
      this.onRetry?.(attempt, delayMs, failure);
      await sleep(delayMs, signal);
    }
    throw new Error("unreachable: the last attempt returns or throws");
  }

  /**
   * One attempt: the transport's request under the per-request timeout. Its own
   * AbortController stops the request at the deadline, or when the caller's signal
   * aborts; it rejects with a RequestTimeoutError, or with the caller's reason.
   */
  async send(url, signal) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new RequestTimeoutError(url, this.timeoutMs)), this.timeoutMs);
    const forward = () => controller.abort(signal.reason);
    signal?.addEventListener("abort", forward, { once: true });
    try {
      return await this.transport.httpGet(url, controller.signal);
    } catch (error) {
      throw controller.signal.aborted ? controller.signal.reason : error;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", forward);
    }
  }
}

// -- the functions the scenarios bind -------------------------------------------------
// The kit calls them with its simulated world (`api`) first, and an AbortSignal last when
// the scenario may cancel the call: `getJson(api, url, signal)`. One client per world,
// so that the calls of one scenario run share its circuit breaker and every run starts
// with a closed one. The settings are an application's, scaled down to the scenarios'
// milliseconds; python/client.py uses the same ones.

/**
 * The scenario functions for a client class: `client-buggy.mjs` binds the same ones to
 * its own class.
 */
export function scenarioFunctions(Client) {
  const clients = new WeakMap();
  const clientFor = (api) => {
    let client = clients.get(api);
    if (client === undefined) {
      client = new Client(api, {
        attempts: 3,
        timeoutMs: 100,
        backoffMs: 50,
        maxBackoffMs: 1000,
        failureThreshold: 4,
        resetAfterMs: 250,
        onRetry: (attempt, delayMs, error) => api.log(`retry ${attempt} in ${delayMs} ms: ${error.message}`),
      });
      clients.set(api, client);
    }
    return client;
  };
  return {
    getJson: (api, url, signal) => clientFor(api).getJson(url, { signal }),
  };
}

export const { getJson } = scenarioFunctions(RetryingClient);
