/**
 * The typed client is generated from the committed API contract. If docs/openapi.json changes
 * and `npm run gen:api` was not run, this fails: the dashboard would compile against an API
 * that no longer exists.
 */
import { readFileSync } from "node:fs";

import openapiTS, { astToString } from "openapi-typescript";
import { describe, expect, it } from "vitest";

const contract = new URL("../../../../docs/openapi.json", import.meta.url);
const committed = new URL("./schema.d.ts", import.meta.url);

/** The generator's own header comment aside, the file is exactly what it writes. */
function body(source: string): string {
  return source.replace(/^\/\*\*[\s\S]*?\*\/\s*/, "").trim();
}

describe("generated API client", () => {
  it("matches docs/openapi.json (run `npm run gen:api` after changing the contract)", async () => {
    const generated = astToString(await openapiTS(contract));
    expect(body(readFileSync(committed, "utf8"))).toBe(body(generated));
  });
});
