/**
 * The dashboard in a real Chromium against the stack `make dev` starts (demo tenant with eight
 * weeks of history, one run waiting for approval): what a client, an operator and a stranger
 * with a bad token see and can do. Screenshots land in frontend/test-results/.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { Platform, launchBrowser, newPage, screenshot, signIn, waitFor } from "./harness.mjs";

let platform;
let browser;

before(async () => {
  platform = await Platform.start();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await platform?.stop();
});

/** The demo's live run that waits for a person (ticket T-5002, a refund). */
async function waitingRun() {
  return waitFor(
    async () => {
      const { body } = await platform.api("GET", "/v1/runs?trigger_id=T-5002");
      const run = body.items[0];
      return run?.status === "waiting_for_approval" ? run : null;
    },
    { what: "the demo's run waiting for approval" },
  );
}

/** A new support ticket that asks for a refund: its run stops at the approval. */
async function refundRun(ticketId) {
  const created = await platform.api("POST", "/v1/runs", {
    token: platform.credentials.api_token,
    body: {
      workflow: "support_triage",
      input: {
        ticket_id: ticketId,
        customer_email: "kim@example.com",
        subject: "Refund please",
        body: "I was charged twice, please refund me.",
      },
    },
  });
  assert.equal(created.status, 202, JSON.stringify(created.body));
  const approval = await waitFor(
    async () => {
      // Pending only: the whole inbox is oldest first and the demo's history alone fills a page.
      const { body } = await platform.api("GET", "/v1/approvals?status=pending");
      return body.find((a) => a.run_id === created.body.run_id && a.status === "pending");
    },
    { what: `the approval of ${ticketId}` },
  );
  return { runId: created.body.run_id, approval };
}

function noPageErrors(page) {
  assert.deepEqual(page.errors, [], "the page raised errors");
}

describe("a client with a viewer sign-in link", () => {
  test("lands on Outcomes with real figures and trend charts", async () => {
    const page = await newPage(browser);
    await signIn(page, platform, "viewer");
    assert.equal(new URL(page.url()).hash, "", "the one-time code left the address bar");
    const stored = await page.evaluate(() => Object.keys(sessionStorage).length);
    assert.ok(stored > 0, "the session token is kept in session storage");

    await page.getByRole("heading", { level: 1, name: "Outcomes" }).waitFor();
    // The figures are the API's: hours relieved and runs over the page's period, not zero.
    const relieved = page.locator(".figure-card", { hasText: "Hours relieved" });
    await relieved.waitFor({ timeout: 20_000 });
    const hours = Number(/([\d.]+) h/.exec(await relieved.innerText())?.[1]);
    assert.ok(hours > 0, `hours relieved shown: ${await relieved.innerText()}`);
    const summary = await page.locator("main").innerText();
    const runs = Number(/(\d+) runs:/.exec(summary)?.[1]);
    assert.ok(runs > 100, "the demo's runs are counted");
    await page.locator(".recharts-surface").first().waitFor({ timeout: 20_000 });
    assert.ok((await page.locator(".recharts-surface").count()) >= 2, "trend charts are drawn");
    await screenshot(page, "outcomes");
    noPageErrors(page);
    await page.context().close();
  });

  test("opens a run from the list and sees its five steps in the state graph", async () => {
    const page = await newPage(browser);
    await signIn(page, platform, "viewer");
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Runs" }).click();
    await page.getByRole("heading", { level: 1, name: "Runs" }).waitFor();
    const rows = page.locator("table tbody tr");
    await rows.first().waitFor();
    assert.ok((await rows.count()) >= 20, "a page of the demo's runs");
    await screenshot(page, "runs");

    // Open a run that went through all five steps (succeeded, no person needed).
    const { body } = await platform.api("GET", "/v1/runs?status=succeeded&limit=50");
    let chosen;
    for (const item of body.items) {
      const detail = (await platform.api("GET", `/v1/runs/${item.id}`)).body;
      if (detail.graph.nodes.every((n) => n.status === "succeeded")) {
        chosen = detail;
        break;
      }
    }
    assert.ok(chosen, "a run with every step succeeded");
    const started = Date.now();
    await page.goto(`${platform.base}/runs/detail/?id=${chosen.id}`);
    const graph = page.getByTestId("run-graph");
    await graph.waitFor();
    const nodes = graph.locator("[data-node-status]");
    await waitFor(async () => (await nodes.count()) === 5, { what: "five nodes in the graph" });
    const statuses = await nodes.evaluateAll((els) => els.map((e) => e.getAttribute("data-node-status")));
    assert.deepEqual(statuses, ["succeeded", "succeeded", "succeeded", "succeeded", "succeeded"]);
    const drawnAt = await page.evaluate(
      () => performance.getEntriesByName("run-graph-drawn")[0]?.startTime ?? null,
    );
    assert.ok(drawnAt !== null, "the page marks when the graph is drawn");
    console.log(
      `run graph drawn ${drawnAt.toFixed(0)} ms after navigation start ` +
        `(${Date.now() - started} ms from goto to five nodes found, test-side)`,
    );
    const text = await page.locator("main").innerText();
    assert.match(text, /Timeline/);
    assert.doesNotMatch(text, /Redrive|Re-run|Cancel run/, "a viewer gets no run actions");
    await screenshot(page, "run-detail");
    noPageErrors(page);
    await page.context().close();
  });

  test("finds a run by its ticket id and sees the approval inbox read-only", async () => {
    const run = await waitingRun();
    const page = await newPage(browser);
    await signIn(page, platform, "viewer");
    await page.goto(`${platform.base}/runs/?trigger_id=T-5002`);
    await page.locator("table tbody tr").first().waitFor();
    assert.equal(await page.locator("table tbody tr").count(), 1);
    assert.match(await page.locator("table tbody tr").innerText(), /waiting/i);

    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Approvals" }).click();
    await page.getByRole("heading", { level: 1, name: "Approvals" }).waitFor();
    await page.getByText("T-5002").first().waitFor();
    assert.equal(await page.getByRole("button", { name: "Approve" }).count(), 0, "no approve button");
    assert.equal(await page.getByRole("button", { name: "Reject" }).count(), 0, "no reject button");
    // The count line is the API's count of what waits; all of it fits one page, so no more to show.
    await waitFor(
      async () => {
        const { body } = await platform.api("GET", "/v1/approvals?status=pending&status=escalated&limit=500");
        const line = await page.locator(".inbox-count").innerText();
        return line.startsWith(`${body.length} waiting`) ? line : null;
      },
      { timeout: 20_000, what: "the inbox's count line" },
    );
    assert.equal(await page.getByRole("button", { name: /Show the next/ }).count(), 0);
    await screenshot(page, "approvals-viewer");
    assert.equal((await platform.api("GET", `/v1/runs/${run.id}`)).body.status, "waiting_for_approval");
    noPageErrors(page);
    await page.context().close();
  });

  test("Health shows latency per step and what runs cost, per run and per client", async () => {
    const page = await newPage(browser);
    await signIn(page, platform, "viewer");
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Health" }).click();
    await page.getByRole("heading", { level: 1, name: "Technical health" }).waitFor();
    await page.getByRole("rowheader", { name: /retrieve/ }).first().waitFor({ timeout: 20_000 });
    // the demo's live runs ran through the node runner this month: the ledger priced them
    const panel = page.getByTestId("cost-panel");
    await panel.getByTestId("cost-per-client").waitFor({ timeout: 20_000 });
    const clients = panel.getByTestId("cost-per-client").locator("tbody tr");
    assert.equal(await clients.count(), 1, "a viewer sees its own client only");
    assert.match(await clients.first().innerText(), /Demo Bakery/);
    await panel.getByTestId("cost-per-run").waitFor();
    assert.ok((await panel.getByTestId("cost-per-run").locator("tbody tr").count()) >= 1);
    const text = await panel.innerText();
    assert.match(text, /Per run\s*\$\d/);
    assert.match(text, /Lambda \$/);
    assert.doesNotMatch(await page.locator("main").innerText(), /not measured yet/);
    await panel.scrollIntoViewIfNeeded();
    await screenshot(page, "health");
    noPageErrors(page);
    await page.context().close();
  });

  test("a run's trace shows as a waterfall with its business events and cost", async () => {
    const run = await waitingRun();
    const page = await newPage(browser);
    await signIn(page, platform, "viewer");
    await page.goto(`${platform.base}/runs/detail/?id=${run.id}`);
    const trace = page.getByTestId("run-trace");
    await trace.waitFor({ timeout: 20_000 });
    // the API request, the execution, plan, retrieve, decide (asking), and their model calls
    assert.ok((await trace.getByTestId("trace-bar").count()) >= 6);
    const text = await trace.innerText();
    for (const expected of [/API request/i, /Step Functions/i, /ticket triaged/, /answer researched/, /reply drafted/]) {
      assert.match(text, expected);
    }
    assert.match(text, /nodes cost \$/);
    // every bar sits inside its track
    const boxes = await trace.getByTestId("trace-bar").evaluateAll((bars) =>
      bars.map((bar) => {
        const own = bar.getBoundingClientRect();
        const track = bar.parentElement.getBoundingClientRect();
        return own.left >= track.left - 1 && own.right <= track.right + 1 && own.width >= 1;
      }),
    );
    assert.deepEqual(boxes, boxes.map(() => true));
    await page.getByRole("heading", { name: "Trace" }).scrollIntoViewIfNeeded();
    await screenshot(page, "run-trace");
    noPageErrors(page);
    await page.context().close();
  });

  test("an unknown run id shows a not-found state", async () => {
    const page = await newPage(browser);
    await signIn(page, platform, "viewer");
    await page.goto(`${platform.base}/runs/detail/?id=00000000-0000-4000-8000-000000000000`);
    await page.getByTestId("run-not-found").waitFor();
    await page.context().close();
  });

  test("signing out ends the session and returns to sign-in", async () => {
    const page = await newPage(browser);
    await signIn(page, platform, "viewer");
    await page.getByRole("button", { name: /sign out/i }).click();
    await page.waitForURL((url) => url.pathname === "/signin/");
    assert.equal(await page.evaluate(() => Object.keys(sessionStorage).length), 0);
    await page.goto(`${platform.base}/runs/`);
    await page.waitForURL((url) => url.pathname === "/signin/");
    await page.context().close();
  });
});

describe("an operator", () => {
  test("approves the pending request and watches the run succeed", async () => {
    const run = await waitingRun();
    const page = await newPage(browser);
    await signIn(page, platform, "operator");
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Approvals" }).click();
    const card = page.locator("li", { hasText: "T-5002" }).first();
    await card.waitFor();
    await screenshot(page, "approvals-operator");
    await card.getByRole("button", { name: "Approve", exact: true }).focus();
    await page.keyboard.press("Enter");
    await waitFor(async () => /succeeded/i.test(await card.innerText()), {
      what: "the run's status on the card to reach succeeded",
    });
    assert.equal((await platform.api("GET", `/v1/runs/${run.id}`)).body.status, "succeeded");
    await screenshot(page, "approval-decided");
    noPageErrors(page);
    await page.context().close();
  });

  test("is told plainly when someone else decided first", async () => {
    const { approval } = await refundRun("T-7001");
    const page = await newPage(browser);
    await signIn(page, platform, "operator");
    await page.goto(`${platform.base}/approvals/`);
    const card = page.locator("li", { hasText: "T-7001" }).first();
    await card.waitFor();
    const decided = await platform.api("POST", `/v1/approvals/${approval.id}/decision`, {
      token: platform.credentials.api_token,
      body: { decision: "reject" },
    });
    assert.equal(decided.status, 200);
    await card.getByRole("button", { name: "Approve", exact: true }).click();
    await waitFor(async () => /already decided/i.test(await card.innerText()), {
      what: "the 409 answer on the card",
    });
    await screenshot(page, "approval-conflict");
    await page.context().close();
  });

  test("cancels a waiting run after confirming, and annotates it", async () => {
    const { runId } = await refundRun("T-7002");
    const page = await newPage(browser);
    await signIn(page, platform, "operator");
    await page.goto(`${platform.base}/runs/detail/?id=${runId}`);
    await page.locator('[data-node-status="waiting"]').waitFor();
    await page.locator('[data-action="cancel"]').click();
    // Nothing happens until the confirm: the run still waits.
    assert.equal((await platform.api("GET", `/v1/runs/${runId}`)).body.status, "waiting_for_approval");
    await page.locator('[data-confirm="cancel"]').click();
    await waitFor(async () => (await platform.api("GET", `/v1/runs/${runId}`)).body.status === "cancelled", {
      what: "the run to be cancelled",
    });
    await page.locator('.badge[data-status="cancelled"]').first().waitFor();
    // The step that waited reads as cancelled there, not as one the run never reached.
    await page.locator('[data-node-status="stopped"]', { hasText: "cancelled here" }).waitFor();

    await page.getByLabel("Comment").fill("Customer called; refunded by phone.");
    await page.getByRole("button", { name: "Add comment" }).click();
    await waitFor(
      async () =>
        (await platform.api("GET", `/v1/runs/${runId}/annotations`)).body.some(
          (n) => n.body === "Customer called; refunded by phone.",
        ),
      { what: "the comment to be stored" },
    );
    // …and listed on the page (not only in the form it was typed into).
    await page.locator("li[data-annotation-kind=comment]", { hasText: "Customer called; refunded by phone." }).first().waitFor();
    await screenshot(page, "run-cancelled");
    noPageErrors(page);
    await page.context().close();
  });
});

test("an ended session goes back to sign-in with a message", async () => {
  const page = await newPage(browser);
  await signIn(page, platform, "viewer");
  // Let the page finish its own calls, so the first refused one is the navigation's below.
  await page.waitForLoadState("networkidle");
  const token = await page.evaluate(() => Object.values(sessionStorage).find((v) => v.startsWith("fd_")));
  assert.ok(token, "the session token is in session storage");
  const ended = await platform.api("POST", "/v1/sign-out", { token });
  assert.equal(ended.status, 204);
  // The next call the page makes is refused: back to sign-in, saying why.
  await page.goto(`${platform.base}/runs/`);
  await page.waitForURL((url) => url.pathname === "/signin/");
  await page.getByText(/session has ended/i).waitFor();
  assert.equal(await page.evaluate(() => Object.keys(sessionStorage).filter((k) => k.includes("token")).length), 0);
  await page.context().close();
});

test("a bad token shows the sign-in error", async () => {
  const page = await newPage(browser);
  await page.goto(`${platform.base}/signin/`);
  await page.getByLabel("API token").fill("fd_00000000_not-a-real-token");
  await page.getByRole("button", { name: /sign in/i }).click();
  await page.getByText(/not valid/).waitFor();
  assert.equal(new URL(page.url()).pathname, "/signin/");
  await screenshot(page, "signin-error");
  await page.context().close();
});

test("a used sign-in link is refused with a message", async () => {
  const link = await platform.signInLink("viewer");
  const first = await newPage(browser);
  await first.goto(link);
  await first.waitForURL((url) => url.pathname === "/");
  const second = await newPage(browser);
  await second.goto(link);
  await second.getByText(/already used or has expired/).waitFor();
  await first.context().close();
  await second.context().close();
});

test("an unknown page gets the dashboard's 404 page", async () => {
  const answer = await fetch(`${platform.base}/no/such/page/`);
  assert.equal(answer.status, 404);
});
