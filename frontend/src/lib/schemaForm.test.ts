import { describe, expect, it } from "vitest";

import { apiFieldErrors, buildPayload, fieldError, fieldsOf, humanize, initialValues, optionKey } from "./schemaForm";

/** The support-triage workflow's edit schema, as its requests carry it. */
const REPLY_SCHEMA = {
  type: "object",
  properties: { reply: { type: "string", minLength: 1, maxLength: 20000 } },
  required: ["reply"],
  additionalProperties: false,
};

const RICH_SCHEMA = {
  type: "object",
  properties: {
    subject: { type: "string", maxLength: 10, title: "Subject line" },
    refund_amount: { type: "number", minimum: 0, maximum: 500, description: "in EUR" },
    items: { type: "integer", exclusiveMinimum: 0 },
    urgent: { type: "boolean" },
    tone: { enum: ["formal", "friendly"] },
    priority: { type: ["integer", "null"], enum: [1, 2, 3, null] },
    tags: { type: "array", items: { type: "string" } },
    code: { type: "string", pattern: "^[A-Z]{3}$" },
  },
  required: ["subject", "tone", "items"],
};

describe("fields from a schema", () => {
  it("reads the support-triage reply as one required long text", () => {
    const [reply] = fieldsOf(REPLY_SCHEMA, { reply: "Hello", confidence: 0.4 });
    expect(reply).toMatchObject({ name: "reply", label: "Reply", kind: "textarea", required: true, minLength: 1, maxLength: 20000 });
  });

  it("maps each supported type to its input", () => {
    const fields = fieldsOf(RICH_SCHEMA);
    expect(fields.map((f) => [f.name, f.kind, f.required])).toEqual([
      ["subject", "text", true],
      ["refund_amount", "number", false],
      ["items", "integer", true],
      ["urgent", "boolean", false],
      ["tone", "enum", true],
      ["priority", "enum", false],
      ["tags", "json", false],
      ["code", "text", false],
    ]);
    expect(fields[0].label).toBe("Subject line");
    expect(fields[1].description).toBe("in EUR");
    expect(fields[5]).toMatchObject({ nullable: true, options: [1, 2, 3] });
  });

  it("uses a text area for short-schema strings whose draft is long", () => {
    const schema = { type: "object", properties: { note: { type: "string" } } };
    expect(fieldsOf(schema, { note: "short" })[0].kind).toBe("text");
    expect(fieldsOf(schema, { note: "line one\nline two" })[0].kind).toBe("textarea");
  });

  it("edits a schema that is not an object as one value", () => {
    const fields = fieldsOf({ type: "string", maxLength: 500 }, "Dear customer");
    expect(fields).toHaveLength(1);
    expect(fields[0]).toMatchObject({ name: "", label: "Value", kind: "textarea", required: true });
    const values = initialValues(fields, "Dear customer", { type: "string" });
    expect(buildPayload(fields, values)).toEqual({ payload: "Dear customer", errors: {} });
  });

  it("humanizes names", () => {
    expect(humanize("refund_amount")).toBe("Refund amount");
    expect(humanize("customerReply")).toBe("Customer reply");
  });
});

describe("starting values", () => {
  it("prefills from the draft where it fits, else the schema's default", () => {
    const schema = {
      ...RICH_SCHEMA,
      properties: { ...RICH_SCHEMA.properties, urgent: { type: "boolean", default: true } },
    };
    const fields = fieldsOf(schema);
    const values = initialValues(fields, { subject: "Hi", refund_amount: 25.5, tone: "friendly", priority: 2, tags: ["a"], items: "x" }, schema);
    expect(values).toEqual({
      subject: "Hi",
      refund_amount: "25.5",
      items: "",
      urgent: true,
      tone: optionKey("friendly"),
      priority: optionKey(2),
      tags: '[\n  "a"\n]',
      code: "",
    });
  });

  it("ignores a draft value that is not an allowed option", () => {
    const fields = fieldsOf(RICH_SCHEMA);
    expect(initialValues(fields, { tone: "rude" }).tone).toBe("");
  });
});

describe("validation and the payload", () => {
  const fields = fieldsOf(RICH_SCHEMA);
  const valid = {
    subject: "Re: order",
    refund_amount: "",
    items: "2",
    urgent: false,
    tone: optionKey("formal"),
    priority: "",
    tags: "",
    code: "",
  };

  it("builds the payload, leaving empty optional fields out", () => {
    expect(buildPayload(fields, valid)).toEqual({
      payload: { subject: "Re: order", items: 2, urgent: false, tone: "formal" },
      errors: {},
    });
    expect(
      buildPayload(fields, { ...valid, refund_amount: " 12.5 ", priority: optionKey(3), tags: '["x"]', code: "ABC" }).payload,
    ).toEqual({ subject: "Re: order", refund_amount: 12.5, items: 2, urgent: false, tone: "formal", priority: 3, tags: ["x"], code: "ABC" });
  });

  it("says what is wrong with each field", () => {
    const { payload, errors } = buildPayload(fields, {
      subject: "A subject that is too long",
      refund_amount: "600",
      items: "1.5",
      urgent: false,
      tone: "",
      priority: "",
      tags: "[oops",
      code: "abc",
    });
    expect(payload).toBeUndefined();
    expect(errors).toEqual({
      subject: "At most 10 characters (now 26).",
      refund_amount: "At most 500.",
      items: "Enter a whole number.",
      tone: "Required.",
      tags: "Not valid JSON.",
      code: "Not in the expected format.",
    });
  });

  it("checks bounds and required text", () => {
    const [reply] = fieldsOf(REPLY_SCHEMA);
    expect(fieldError(reply, "")).toBe("Required.");
    expect(fieldError(reply, "ok")).toBeNull();
    const items = fields.find((f) => f.name === "items")!;
    expect(fieldError(items, "0")).toBe("More than 0.");
    expect(fieldError(items, "abc")).toBe("Enter a number.");
    const amount = fields.find((f) => f.name === "refund_amount")!;
    expect(fieldError(amount, "-1")).toBe("At least 0.");
  });

  it("counts characters, not UTF-16 units", () => {
    const [subject] = fieldsOf({ type: "object", properties: { s: { type: "string", maxLength: 2 } } });
    expect(fieldError(subject, "😀😀")).toBeNull();
  });

  it("sends only the schema's properties, not the rest of the draft", () => {
    const f = fieldsOf(REPLY_SCHEMA);
    const values = initialValues(f, { reply: "Hello there", confidence: 0.42 }, REPLY_SCHEMA);
    expect(buildPayload(f, values)).toEqual({ payload: { reply: "Hello there" }, errors: {} });
  });
});

describe("the API's field errors", () => {
  it("lands on the field they name", () => {
    const f = fieldsOf(REPLY_SCHEMA);
    expect(
      apiFieldErrors(f, [
        { field: "payload.reply", message: "too long" },
        { field: "payload", message: "extra key" },
        { field: "comment", message: "too long" },
      ]),
    ).toEqual({ byField: { reply: "too long" }, rest: ["extra key", "too long"] });
  });
});
