/**
 * The sdk-parity client with a deliberate bug, for the kit to catch: its per-request
 * timeout races the request against a timer and never aborts the request.
 *
 * The caller still gets its RequestTimeoutError at the deadline, and the retry goes out
 * on time, so a test that only looks at results passes. But the timed-out request is
 * never stopped: it keeps its connection busy and ends later, unseen. The Python client
 * cancels it at the deadline (`asyncio.timeout`), and so does the correct
 * javascript/client.mjs (`controller.abort()`), so the scenario
 * ../buggy/per-request-timeout.yaml shows the difference: the `cancel` of the first
 * request at the deadline is missing, and its `end` comes after the run's result.
 */

import { RequestTimeoutError, RetryingClient, scenarioFunctions } from "./client.mjs";

export class UnabortedTimeoutClient extends RetryingClient {
  async send(url, signal) {
    const controller = new AbortController();
    const forward = () => controller.abort(signal.reason);
    signal?.addEventListener("abort", forward, { once: true });
    let timer;
    const deadline = new Promise((resolve, reject) => {
      // BUG: the deadline rejects the race but never calls controller.abort(), so the
      // request it lost to runs on. (client.mjs aborts the controller at the deadline.)
      timer = setTimeout(() => reject(new RequestTimeoutError(url, this.timeoutMs)), this.timeoutMs);
    });
    try {
      return await Promise.race([this.transport.httpGet(url, controller.signal), deadline]);
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", forward);
    }
  }
}

export const { getJson } = scenarioFunctions(UnabortedTimeoutClient);
