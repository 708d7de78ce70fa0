/**
 * The Knowledge page in a real Chromium against the dev stack: an operator uploads a Markdown
 * file with the file picker, watches it become ready, finds its planted chunk first in test
 * retrieval, sees a file of an unreadable type refused in words, sends a file over 5 MiB
 * straight to storage with a presigned PUT (the browser's CORS preflight included),
 * re-ingests, and deletes with an inline confirmation; a viewer sees the list and the
 * search but no upload or delete control. The demo tenant may hold seeded documents: nothing
 * here assumes an empty list. Screenshots land in frontend/test-results/.
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

const STAMP = Date.now().toString(36);
const PLANTED = `zephyr-lamp-warranty-${STAMP}.md`;
const PLANTED_TEXT = `# Zephyr lamp care

## Cleaning the shade

Wipe the linen shade with a dry cloth. Do not use water on the dimmer.

## Hinge warranty for the Zephyr lamp

The Zephyr desk lamp's brass hinge carries a seven-year warranty. To claim it, email
hinge-claims@example.com with the order number and a photo of the hinge; a replacement hinge
ships within five working days, free of charge.

## Bulbs

The lamp takes one E14 LED bulb of at most 6 watts.
`;

function noPageErrors(page) {
  assert.deepEqual(page.errors, [], "the page raised errors");
}

async function openKnowledge(page, role) {
  await signIn(page, platform, role);
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Knowledge" }).click();
  await page.getByRole("heading", { level: 1, name: "Knowledge" }).waitFor();
  await page.locator(".documents table, .documents .state-empty").first().waitFor({ timeout: 20_000 });
}

/**
 * Why a browser could not PUT to a presigned URL of the local S3, or null when it can: the
 * CORS preflight (OPTIONS) must answer 2xx. Asks for an upload, sends the preflight a browser
 * would, and deletes the document again.
 */
async function presignedPutRefusal() {
  const token = platform.credentials.api_token;
  const created = await platform.api("POST", "/v1/documents/uploads", {
    token,
    body: { filename: "preflight-probe.txt", content_type: "text/plain", size_bytes: 6_000_000 },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  try {
    const answer = await fetch(created.body.url, {
      method: "OPTIONS",
      headers: {
        origin: platform.base,
        "access-control-request-method": "PUT",
        "access-control-request-headers": Object.keys(created.body.headers).join(","),
      },
    });
    return answer.ok ? null : `OPTIONS answered ${answer.status} ${answer.headers.get("x-amzn-errortype") ?? ""}`.trim();
  } finally {
    await platform.api("DELETE", `/v1/documents/${created.body.document.id}`, { token });
  }
}

function documentRow(page, filename) {
  return page.locator(`.document-table tbody tr[data-filename="${filename}"]`);
}

describe("the Knowledge page", () => {
  test("an operator uploads a Markdown file, sees it ready and finds its chunk first", async () => {
    const page = await newPage(browser);
    await openKnowledge(page, "operator");
    await page.getByLabel("Tags for the next files (optional)").fill("warranty, lamps");
    await page.getByTestId("upload-input").setInputFiles({
      name: PLANTED,
      mimeType: "text/markdown",
      buffer: Buffer.from(PLANTED_TEXT, "utf8"),
    });

    const upload = page.locator(`.upload-item[data-filename="${PLANTED}"]`);
    await upload.waitFor();
    const row = documentRow(page, PLANTED);
    await row.waitFor({ timeout: 20_000 });
    await waitFor(async () => (await row.getAttribute("data-status")) === "ready", {
      timeout: 60_000,
      what: `${PLANTED} to become ready (status: ${await row.getAttribute("data-status")})`,
    });
    // The upload's own line follows the document too.
    await upload.locator('[data-status="ready"]').waitFor();
    const cells = await row.innerText();
    assert.match(cells, /Markdown/);
    assert.match(cells, /\d+(\.\d)? (B|KiB)/, "the size is shown");
    assert.match(cells, /warranty/);
    assert.match(cells, /lamps/);
    const chunks = Number(await row.locator("td.num").nth(1).innerText());
    assert.ok(chunks >= 1, `chunk count shown: ${chunks}`);
    assert.match(cells, /dimensions/, "the embedding model and its dimension are shown");
    assert.match(cells, /Ingested/);
    await screenshot(page, "knowledge-ready");

    await page.getByLabel("Question").fill("How long is the warranty on the Zephyr lamp hinge, and how do I claim it?");
    await page.getByRole("button", { name: "Search", exact: true }).click();
    const hits = page.locator(".hit-list .hit");
    await hits.first().waitFor({ timeout: 20_000 });
    const first = hits.first();
    assert.equal(await first.getAttribute("data-filename"), PLANTED, "the planted document ranks first");
    const firstText = await first.innerText();
    assert.match(firstText, /seven-year warranty/, "the chunk's text is shown");
    assert.match(firstText, /Hinge warranty for the Zephyr lamp/, "with its heading");
    const vector = await first.getByTestId("vector-rank").innerText();
    const text = await first.getByTestId("text-rank").innerText();
    const score = Number(await first.getByTestId("score").innerText());
    assert.equal(vector, "#1", "nearest vector");
    assert.equal(text, "#1", "best full-text match");
    assert.ok(score > 0 && score <= 2 / 61 + 1e-4, `fused score ${score}`);
    // Ranked: the scores never rise down the list.
    const scores = (await page.getByTestId("score").allInnerTexts()).map(Number);
    assert.deepEqual([...scores].sort((a, b) => b - a), scores);
    await page.locator(".rank-explainer").getByText("vector rank").waitFor();
    await screenshot(page, "knowledge-retrieval");

    // Filtered to the planted document, the search stays inside it.
    await page.getByLabel("Document", { exact: true }).selectOption({ label: PLANTED });
    await page.getByLabel("Question").fill("Which bulb does the lamp take?");
    await page.getByRole("button", { name: "Search", exact: true }).click();
    await page.locator(".retrieval-results").getByText("for “Which bulb does the lamp take?”").waitFor({ timeout: 20_000 });
    assert.match(await hits.first().innerText(), /E14 LED bulb/);
    const filenames = await hits.evaluateAll((els) => els.map((e) => e.getAttribute("data-filename")));
    assert.deepEqual([...new Set(filenames)], [PLANTED], "only the chosen document's chunks");

    // When no chunk is found at all (vector search always returns the nearest, so only an empty
    // scope does that), the page says so: the API's empty answer, stubbed.
    await page.route("**/v1/knowledge/search", (route) =>
      route.fulfill({ json: { query: "anything", embedding_model: "stub", hits: [] } }),
    );
    await page.getByLabel("Question").fill("anything");
    await page.getByRole("button", { name: "Search", exact: true }).click();
    await page.getByRole("heading", { name: "Nothing matched “anything”" }).waitFor({ timeout: 20_000 });
    await page.unroute("**/v1/knowledge/search");
    noPageErrors(page);
    await page.context().close();
  });

  test("a file of a type ingestion cannot read is refused in words", async () => {
    const page = await newPage(browser);
    await openKnowledge(page, "operator");
    const name = `prices-${STAMP}.xlsx`;
    await page.getByTestId("upload-input").setInputFiles({
      name,
      mimeType: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
      buffer: Buffer.from("PK\u0003\u0004 not a sheet"),
    });
    const refused = page.locator(`.upload-item[data-filename="${name}"]`);
    await refused.locator(".form-error").waitFor({ timeout: 20_000 });
    assert.equal(await refused.getAttribute("data-upload-state"), "refused");
    assert.match(
      await refused.innerText(),
      /is of a type Flightdeck cannot read: upload PDF, Markdown, plain text, HTML or CSV files\./,
    );
    const { body } = await platform.api("GET", "/v1/documents");
    assert.ok(!body.some((d) => d.filename === name), "nothing was stored");
    await screenshot(page, "knowledge-refused");
    noPageErrors(page);
    await page.context().close();
  });

  test("a file over 5 MiB goes straight to storage with a presigned PUT", async () => {
    assert.equal(await presignedPutRefusal(), null, "the storage answers the browser's preflight");
    const page = await newPage(browser);
    await openKnowledge(page, "operator");
    const large = `handbook-${STAMP}.txt`;
    const paragraph = `${"Opening hours are nine to five on weekdays. ".repeat(20)}\n\n`;
    const body = paragraph.repeat(Math.ceil((5.2 * 1024 * 1024) / paragraph.length));
    await page.getByTestId("upload-input").setInputFiles({ name: large, mimeType: "text/plain", buffer: Buffer.from(body) });
    const stored = page.locator(`.upload-item[data-filename="${large}"]`);
    await waitFor(async () => ["stored", "refused"].includes(await stored.getAttribute("data-upload-state")), {
      timeout: 60_000,
      what: `${large} to reach storage`,
    });
    assert.equal(await stored.getAttribute("data-upload-state"), "stored", await stored.innerText());
    const row = documentRow(page, large);
    await row.waitFor({ timeout: 20_000 });
    assert.match(await row.innerText(), /5\.\d MiB/);
    await waitFor(async () => (await row.getAttribute("data-status")) === "ready", {
      timeout: 120_000,
      what: `${large} to become ready`,
    });
    await screenshot(page, "knowledge-large");
    noPageErrors(page);
    await page.context().close();
  });

  test("a viewer sees the documents and can test retrieval, but has no upload or delete control", async () => {
    const page = await newPage(browser);
    await openKnowledge(page, "viewer");
    await page.getByRole("note").getByText("viewer").waitFor();
    assert.equal(await page.getByTestId("upload-input").count(), 0, "no file input");
    assert.equal(await page.getByRole("button", { name: "Choose files…" }).count(), 0, "no upload button");
    assert.equal(await page.getByTestId("drop-zone").count(), 0, "no drop zone");
    await documentRow(page, PLANTED).waitFor();
    assert.equal(await page.getByRole("button", { name: /^Delete/ }).count(), 0, "no delete");
    assert.equal(await page.getByRole("button", { name: /^Re-ingest/ }).count(), 0, "no re-ingest");

    await page.getByLabel("Question").fill("Zephyr hinge warranty claim");
    await page.getByRole("button", { name: "Search", exact: true }).click();
    await page.locator(".hit-list .hit").first().waitFor({ timeout: 20_000 });
    assert.equal(await page.locator(".hit-list .hit").first().getAttribute("data-filename"), PLANTED);
    await screenshot(page, "knowledge-viewer");

    // The API refuses a viewer's upload too (the page only mirrors it).
    const form = new FormData();
    form.append("file", new Blob(["# hi\n\nthere"], { type: "text/markdown" }), "viewer.md");
    const answer = await fetch(`${platform.base}/v1/documents`, {
      method: "POST",
      headers: { authorization: `Bearer ${platform.credentials.viewer_token}` },
      body: form,
    });
    assert.equal(answer.status, 403);
    noPageErrors(page);
    await page.context().close();
  });

  test("an operator re-ingests a document, then deletes it after confirming inline", async () => {
    const page = await newPage(browser);
    await openKnowledge(page, "operator");
    const row = documentRow(page, PLANTED);
    await row.waitFor();
    // Re-ingest: queued again, then ready again as the list refreshes.
    await row.getByRole("button", { name: `Re-ingest ${PLANTED}` }).click();
    await row.getByRole("status").getByText(/Queued|Ingested again/).waitFor({ timeout: 20_000 });
    await waitFor(async () => (await row.getAttribute("data-status")) === "ready", {
      timeout: 60_000,
      what: `${PLANTED} to be ready again`,
    });
    await row.getByRole("button", { name: `Delete ${PLANTED}…` }).click();
    const confirm = row.getByRole("group");
    assert.match(await confirm.innerText(), /cannot be undone/);
    // Keeping it closes the question and leaves the document.
    await confirm.getByRole("button", { name: "Keep it" }).click();
    await row.getByRole("button", { name: `Delete ${PLANTED}…` }).click();
    await row.getByRole("button", { name: "Yes, delete" }).click();
    await row.waitFor({ state: "detached", timeout: 20_000 });
    const { body } = await platform.api("GET", "/v1/documents");
    assert.ok(!body.some((d) => d.filename === PLANTED), "the API no longer lists it");
    noPageErrors(page);
    await page.context().close();
  });

  test("a tenant without documents is told what to upload and which types", async () => {
    // Last: empties the demo tenant (seeded documents included).
    const { body } = await platform.api("GET", "/v1/documents");
    for (const d of body) {
      const gone = await platform.api("DELETE", `/v1/documents/${d.id}`, { token: platform.credentials.api_token });
      assert.equal(gone.status, 204);
    }
    const page = await newPage(browser);
    await openKnowledge(page, "operator");
    const empty = page.locator(".documents .state-empty");
    await empty.getByRole("heading", { name: "No documents yet" }).waitFor();
    const text = await empty.innerText();
    assert.match(text, /returns or refund policy/);
    assert.match(text, /PDF, Markdown, plain text, HTML and CSV/);
    assert.match(text, /50 MiB/);
    await screenshot(page, "knowledge-empty");
    noPageErrors(page);
    await page.context().close();
  });
});
