/**
 * The browser tests' world: the platform as `make dev` runs it (embedded Postgres, the AWS
 * emulator, the demo tenant with its history, the API and this dashboard's static export on
 * one origin), and a real Chromium driven by playwright-core.
 *
 * Needs: `frontend/out` built (`make frontend`), FLIGHTDECK_PYTHON (the project's virtualenv
 * Python) and CHROMIUM_PATH (scripts/ensure-chromium.sh prints one). `make test-frontend` sets
 * all of it.
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
export const FRONTEND = resolve(here, "..");
export const ROOT = resolve(FRONTEND, "..");
export const RESULTS = join(FRONTEND, "test-results");

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the browser tests with 'make test-frontend'`);
  return value;
}

function freePort() {
  return new Promise((done, fail) => {
    const server = createServer();
    server.unref();
    server.on("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });
}

export async function waitFor(predicate, { timeout = 60_000, every = 250, what = "condition" } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  while (Date.now() < deadline) {
    try {
      const value = await predicate();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, every));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last}` : ""}`);
}

/** The dev stack with the built dashboard, on free ports and a throwaway data directory. */
export class Platform {
  static async start() {
    const platform = new Platform();
    await platform.#start();
    return platform;
  }

  async #start() {
    this.dataDir = mkdtempSync(join(tmpdir(), "flightdeck-e2e-"));
    this.logPath = join(this.dataDir, "dev.log");
    this.apiPort = await freePort();
    const awsPort = await freePort();
    const env = { ...process.env };
    for (const name of Object.keys(env)) if (name.startsWith("FLIGHTDECK_")) delete env[name];
    const log = openSync(this.logPath, "a");
    this.process = spawn(
      required("FLIGHTDECK_PYTHON"),
      [
        "-m", "flightdeck.local.dev",
        "--data-dir", this.dataDir,
        "--api-port", String(this.apiPort),
        "--aws-port", String(awsPort),
        "--site-dir", join(FRONTEND, "out"),
      ],
      { cwd: ROOT, env, stdio: ["ignore", log, log] },
    );
    this.exited = new Promise((done) => this.process.on("exit", (code) => done(code)));
    await waitFor(
      async () => {
        if (this.process.exitCode !== null) throw new Error(`dev stack exited:\n${this.output()}`);
        const answer = await fetch(`${this.base}/healthz`);
        return answer.ok && this.output().includes("Dashboard");
      },
      { timeout: 180_000, what: "the dev stack" },
    );
    if (!this.output().includes("/signin/#code=")) {
      throw new Error(`the dev stack serves no dashboard (is frontend/out built?):\n${this.output()}`);
    }
    this.credentials = JSON.parse(readFileSync(join(this.dataDir, "dev-credentials.json"), "utf8"));
  }

  get base() {
    return `http://127.0.0.1:${this.apiPort}`;
  }

  output() {
    try {
      return readFileSync(this.logPath, "utf8");
    } catch {
      return "";
    }
  }

  /** Call the API as the admin, the operator (`api_token`) or the viewer. */
  async api(method, path, { token = this.credentials.admin_token, body } = {}) {
    const answer = await fetch(`${this.base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await answer.text();
    return { status: answer.status, body: text ? JSON.parse(text) : null };
  }

  /** A one-time sign-in link for a role, as an admin would send it. */
  async signInLink(role) {
    const { status, body } = await this.api("POST", "/v1/sign-in-links", { body: { role } });
    if (status !== 201) throw new Error(`sign-in link: HTTP ${status} ${JSON.stringify(body)}`);
    return `${this.base}${body.path}`;
  }

  async stop() {
    if (this.process && this.process.exitCode === null) {
      this.process.kill("SIGINT");
      const timer = setTimeout(() => this.process.kill("SIGKILL"), 60_000);
      await this.exited;
      clearTimeout(timer);
    }
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: required("CHROMIUM_PATH"),
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
}

/** A fresh page (its own session storage) that fails the test on any uncaught page error. */
export async function newPage(browser) {
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
  const page = await context.newPage();
  page.errors = [];
  page.on("pageerror", (error) => page.errors.push(String(error)));
  page.on("console", (message) => {
    // A failed request (a 404 the test asks for) is the page's business; anything else is not.
    if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) {
      page.errors.push(`console: ${message.text()}`);
    }
  });
  return page;
}

/** Sign in through a one-time link and land on Outcomes. */
export async function signIn(page, platform, role) {
  await page.goto(await platform.signInLink(role));
  await page.waitForURL((url) => url.pathname === "/", { timeout: 30_000 });
}

export async function screenshot(page, name) {
  mkdirSync(RESULTS, { recursive: true });
  const path = join(RESULTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
