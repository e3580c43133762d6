// The JavaScript clients of examples/sdk-parity (javascript/client.mjs and the deliberately
// buggy client-buggy.mjs), on their own, with node's test runner (started from
// tests/examples/test_sdk_parity_node.py).
//
// Two kinds of fake transport: a scripted one with no latency, for the client's decisions;
// and the kit's simulated world (javascript/asyncparity-runtime.mjs), its virtual
// setTimeout, clearTimeout and clock installed on globalThis for the run, as the kit's
// worker installs them for user code (issue 12), for its timing. The scenarios' operations
// and expectations come in as JSON through SDK_PARITY_SCENARIOS.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { formatTrace, World } from "../../javascript/asyncparity-runtime.mjs";
import * as buggy from "../../examples/sdk-parity/javascript/client-buggy.mjs";
import * as client from "../../examples/sdk-parity/javascript/client.mjs";

/** Answers each call with the next response (the last repeats); rejects with the ones that are errors. */
function scripted(...responses) {
  const urls = [];
  return {
    urls,
    httpGet(url, signal) {
      urls.push(url);
      signal?.throwIfAborted();
      const response = responses[Math.min(urls.length, responses.length) - 1];
      return response instanceof Error ? Promise.reject(response) : Promise.resolve(response);
    },
  };
}

const fast = (transport, options = {}) => new client.RetryingClient(transport, { backoffMs: 0, ...options });

// -- decisions ------------------------------------------------------------------------------

test("a 2xx body is returned at the first attempt", async () => {
  const transport = scripted({ status: 200, body: { id: 7 } });
  assert.deepEqual(await fast(transport).getJson("/orders/7"), { id: 7 });
  assert.deepEqual(transport.urls, ["/orders/7"]);
});

test("5xx and transport errors are retried until a 2xx", async () => {
  const transport = scripted({ status: 503 }, new TypeError("fetch failed"), { status: 200, body: "ok" });
  const retries = [];
  const retrying = new client.RetryingClient(transport, {
    backoffMs: 1,
    onRetry: (attempt, delayMs, error) => retries.push([attempt, delayMs, error.message]),
  });
  assert.equal(await retrying.getJson("/a"), "ok");
  assert.deepEqual(retries, [[1, 1, "GET /a: HTTP 503"], [2, 2, "fetch failed"]]);
});

test("a 4xx is not retried", async () => {
  const transport = scripted({ status: 404 });
  await assert.rejects(fast(transport).getJson("/missing"), (error) => {
    assert.ok(error instanceof client.HttpError);
    assert.equal(error.name, "HttpError");
    assert.equal(error.message, "GET /missing: HTTP 404");
    assert.equal(error.status, 404);
    return true;
  });
  assert.deepEqual(transport.urls, ["/missing"]);
});

test("giving up names the attempts and keeps the last error as the cause", async () => {
  const transport = scripted({ status: 500 });
  await assert.rejects(fast(transport, { attempts: 2 }).getJson("/a"), (error) => {
    assert.equal(error.name, "RetriesExhaustedError");
    assert.equal(error.message, "gave up after 2 attempts: GET /a: HTTP 500");
    assert.ok(error.cause instanceof client.HttpError);
    return true;
  });
  assert.equal(transport.urls.length, 2);
});

test("the breaker refuses to send after the threshold, and a success closes it", async () => {
  const transport = scripted({ status: 503 }, { status: 503 }, { status: 200, body: "up" });
  const breakerClient = fast(transport, { attempts: 1, failureThreshold: 2, resetAfterMs: 0 });
  for (let call = 0; call < 2; call += 1) {
    await assert.rejects(breakerClient.getJson("/a"), { name: "RetriesExhaustedError" });
  }
  breakerClient.breaker.resetAfterMs = 3_600_000; // open, and staying so
  await assert.rejects(breakerClient.getJson("/a"), { name: "CircuitOpenError", message: "circuit open: GET /a not sent" });
  assert.equal(transport.urls.length, 2);

  breakerClient.breaker.resetAfterMs = 0; // half-open: one attempt goes through
  assert.equal(await breakerClient.getJson("/a"), "up");
  assert.equal(breakerClient.breaker.failures, 0);
  assert.equal(breakerClient.breaker.openedAt, null);
});

test("aborting the caller's signal aborts the request and is not retried", async () => {
  const seen = [];
  const hanging = {
    httpGet: (url, signal) => new Promise((resolve, reject) => {
      seen.push(url);
      signal.addEventListener("abort", () => reject(signal.reason), { once: true });
    }),
  };
  const controller = new AbortController();
  const call = fast(hanging).getJson("/slow", { signal: controller.signal });
  controller.abort();
  await assert.rejects(call, { name: "AbortError" });
  assert.deepEqual(seen, ["/slow"]);
});

// -- timing, on the kit's simulated world: the traces the scenarios expect ------------------

/** The api object the kit hands to bound functions (the contract of issue 12). */
function worldApi(world, httpGet) {
  return { httpGet: world.operation("http_get", httpGet), log: world.log, now: world.now };
}

/**
 * Runs `main(api)` on a new world, with the world's timers and clock on globalThis while
 * main runs (installed inside the run: the runtime measures its own wall-clock bound with
 * the real performance.now, taken when the run starts), and puts the real ones back.
 */
async function run(httpGet, main) {
  const world = new World("sdk-parity");
  const api = worldApi(world, httpGet);
  const real = { setTimeout: globalThis.setTimeout, clearTimeout: globalThis.clearTimeout };
  let outcome;
  try {
    outcome = await world.run(() => {
      globalThis.setTimeout = world.setTimeout;
      globalThis.clearTimeout = world.clearTimeout;
      performance.now = world.now;
      return main(api);
    });
  } finally {
    Object.assign(globalThis, real);
    delete performance.now; // the prototype's, the real one, again
  }
  assert.equal(outcome.status, "settled", outcome.message);
  return { result: outcome.result, trace: formatTrace(outcome.trace) };
}

const catchAll = async (promise, onError) => {
  try {
    await promise;
  } catch {
    onError();
  }
};

/** A scenario's main that starts the call, cancels it `ms` later, and catches the cancellation. */
async function cancelAfter(getJson, api, ms) {
  const controller = new AbortController();
  const call = getJson(api, "/orders", controller.signal);
  await new Promise((resolve) => setTimeout(resolve, ms));
  controller.abort();
  try {
    return await call;
  } catch (error) {
    if (!(error instanceof DOMException && error.name === "AbortError")) throw error;
    api.log("cancelled");
  }
  return "cancelled";
}

/** Each scenario's main, as the kit's js-async program writes it, by file name. */
const mains = (getJson) => ({
  "success": (api) => getJson(api, "/orders"),
  "retries-then-success": (api) => getJson(api, "/orders"),
  "gives-up": (api) => getJson(api, "/orders"),
  "client-error": (api) => getJson(api, "/orders/9"),
  "per-request-timeout": (api) => getJson(api, "/orders"),
  "breaker-opens": async (api) => {
    await catchAll(getJson(api, "/orders"), () => api.log("first call failed"));
    await catchAll(getJson(api, "/orders"), () => api.log("second call failed"));
    return getJson(api, "/orders");
  },
  "breaker-recovers": async (api) => {
    for (let call = 0; call < 3; call += 1) {
      await catchAll(getJson(api, "/orders"), () => api.log(`call ${call} failed`));
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    return getJson(api, "/orders");
  },
  "cancellation": (api) => cancelAfter(getJson, api, 100),
  "cancellation-in-backoff": (api) => cancelAfter(getJson, api, 50),
});

const scenarios = JSON.parse(readFileSync(process.env.SDK_PARITY_SCENARIOS, "utf8"));

/** The world's http_get of a scenario, as the kit declares it (`returns` is one outcome). */
function httpGetOf(scenario) {
  const { latency, returns, outcomes } = scenario.operations.http_get;
  return { latency, outcomes: outcomes ?? [{ returns }] };
}

const expected = (scenario) => ({
  result: Object.fromEntries(["returns", "throws"].filter((key) => key in scenario.expect).map((key) => [key, scenario.expect[key]])),
  trace: scenario.expect.trace.trimEnd(),
});

test("every scenario of the example has its main here", () => {
  assert.deepEqual(Object.keys(scenarios).sort(), Object.keys(mains(null)).sort());
});

for (const [name, main] of Object.entries(mains(client.getJson))) {
  test(`client.mjs on the simulated world does what the scenario expects: ${name}`, async () => {
    assert.deepEqual(await run(httpGetOf(scenarios[name]), main), expected(scenarios[name]));
  });
}

test("client-buggy.mjs lets the timed-out request run on: no cancel at the deadline, its end after the result", async () => {
  const scenario = scenarios["per-request-timeout"];
  const { result, trace } = await run(httpGetOf(scenario), mains(buggy.getJson)["per-request-timeout"]);
  assert.deepEqual(result, expected(scenario).result);
  assert.equal(trace, [
    '0 start http_get("/orders")',
    '100 log "retry 1 in 50 ms: GET /orders: no response in 100 ms"',
    '150 start http_get("/orders")',
    '180 end http_get -> {"status":200,"body":{"orders":[1,2]}}',
    '180 return {"orders":[1,2]}',
    '300 end http_get -> {"status":200,"body":{"orders":[1,2]}}',
  ].join("\n"));
});

test("client-buggy.mjs does what client.mjs does in every scenario without a timeout", async () => {
  for (const [name, main] of Object.entries(mains(buggy.getJson))) {
    if (name === "per-request-timeout") continue;
    assert.deepEqual(await run(httpGetOf(scenarios[name]), main), expected(scenarios[name]), name);
  }
});
