/**
 * An approval request's `edit_schema` (JSON Schema) as a form: which fields, their starting
 * values (the draft), and the checks the API will make anyway (`required`, lengths, bounds,
 * enums, patterns), so a person hears about a mistake before sending. Pure: tested in
 * schemaForm.test.ts; SchemaForm.tsx renders it.
 *
 * Supported: an object of string (short or long), number, integer, boolean and enum properties;
 * a property of any other shape (an array, a nested object) is edited as JSON text. A schema
 * that is not an object is edited as one field holding the whole value.
 */

export type FieldKind = "text" | "textarea" | "number" | "integer" | "boolean" | "enum" | "json";

export interface Field {
  /** The property name; "" for a schema that is not an object (the value is the payload). */
  name: string;
  label: string;
  description: string | null;
  kind: FieldKind;
  required: boolean;
  /** Null is an allowed value (`type: [..., "null"]`). */
  nullable: boolean;
  minLength: number | null;
  maxLength: number | null;
  pattern: string | null;
  minimum: number | null;
  maximum: number | null;
  exclusiveMinimum: number | null;
  exclusiveMaximum: number | null;
  /** The allowed values of an enum, in the schema's order. */
  options: unknown[];
}

/** What the inputs hold: text for every typed field, a flag for booleans. */
export type Values = Record<string, string | boolean>;
export type Errors = Record<string, string>;

type Json = Record<string, unknown>;

const LONG_TEXT = 120;

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function num(v: unknown): number | null {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

/** "customer_reply" → "Customer reply". */
export function humanize(name: string): string {
  const words = name.replace(/([a-z0-9])([A-Z])/g, "$1 $2").replace(/[_-]+/g, " ").trim();
  return words ? words[0].toUpperCase() + words.slice(1).toLowerCase() : "Value";
}

function typesOf(schema: Json): string[] {
  const t = schema.type;
  if (typeof t === "string") return [t];
  if (Array.isArray(t)) return t.filter((x): x is string => typeof x === "string");
  return [];
}

function fieldOf(name: string, raw: unknown, required: boolean, draft: unknown): Field {
  const schema = isObject(raw) ? raw : {};
  const types = typesOf(schema);
  const nullable = types.includes("null") || (Array.isArray(schema.enum) && schema.enum.includes(null));
  const main = types.filter((t) => t !== "null");
  let kind: FieldKind = "json";
  const options = Array.isArray(schema.enum) ? schema.enum.filter((o) => o !== null) : [];
  if (Array.isArray(schema.enum)) kind = "enum";
  else if ("const" in schema) {
    kind = "enum";
    options.push(schema.const);
  } else if (main.length === 1 && main[0] === "string") {
    const maxLength = num(schema.maxLength);
    const long =
      schema.format === "textarea" ||
      (maxLength !== null && maxLength > LONG_TEXT) ||
      (typeof draft === "string" && (draft.length > 60 || draft.includes("\n")));
    kind = long ? "textarea" : "text";
  } else if (main.length === 1 && (main[0] === "number" || main[0] === "integer")) kind = main[0];
  else if (main.length === 1 && main[0] === "boolean") kind = "boolean";
  return {
    name,
    label: typeof schema.title === "string" && schema.title ? schema.title : humanize(name),
    description: typeof schema.description === "string" ? schema.description : null,
    kind,
    required,
    nullable,
    minLength: num(schema.minLength),
    maxLength: num(schema.maxLength),
    pattern: typeof schema.pattern === "string" ? schema.pattern : null,
    minimum: num(schema.minimum),
    maximum: num(schema.maximum),
    exclusiveMinimum: num(schema.exclusiveMinimum),
    exclusiveMaximum: num(schema.exclusiveMaximum),
    options,
  };
}

/** True when the schema describes an object (then the payload is an object of its fields). */
export function isObjectSchema(schema: unknown): boolean {
  return isObject(schema) && (typesOf(schema).includes("object") || isObject(schema.properties));
}

/** The form's fields, in the schema's property order. */
export function fieldsOf(schema: unknown, draft: unknown = undefined): Field[] {
  if (!isObject(schema)) return [];
  if (!isObjectSchema(schema)) return [fieldOf("", { title: "Value", ...schema }, true, draft)];
  const properties = isObject(schema.properties) ? schema.properties : {};
  const required = new Set(Array.isArray(schema.required) ? schema.required.filter((r) => typeof r === "string") : []);
  const drafted = isObject(draft) ? draft : {};
  return Object.entries(properties).map(([name, prop]) => fieldOf(name, prop, required.has(name), drafted[name]));
}

/** The key a value of an enum is kept under in a <select>: its JSON text ("" for none). */
export function optionKey(value: unknown): string {
  return JSON.stringify(value);
}

function draftValue(field: Field, draft: unknown): unknown {
  if (field.name === "") return draft;
  return isObject(draft) ? draft[field.name] : undefined;
}

/** What each input starts with: the draft's value where it fits the field, else the schema's
 * `default`, else empty. */
export function initialValues(fields: Field[], draft: unknown, schema: unknown = undefined): Values {
  const props = isObject(schema) && isObject(schema.properties) ? schema.properties : {};
  const values: Values = {};
  for (const field of fields) {
    let value = draftValue(field, draft);
    if (value === undefined) {
      const prop = field.name === "" ? schema : props[field.name];
      value = isObject(prop) ? prop.default : undefined;
    }
    values[field.name] = toInput(field, value);
  }
  return values;
}

function toInput(field: Field, value: unknown): string | boolean {
  switch (field.kind) {
    case "boolean":
      return value === true;
    case "enum":
      return field.options.some((o) => optionKey(o) === optionKey(value)) ? optionKey(value) : "";
    case "number":
    case "integer":
      return typeof value === "number" && Number.isFinite(value) ? String(value) : "";
    case "text":
    case "textarea":
      return typeof value === "string" ? value : value === undefined || value === null ? "" : String(value);
    case "json":
      return value === undefined ? "" : JSON.stringify(value, null, 2);
  }
}

function chars(s: string): number {
  return [...s].length;
}

function plural(n: number, word: string): string {
  return `${n.toLocaleString("en")} ${word}${n === 1 ? "" : "s"}`;
}

/** Check one field; the parsed value, or the message a person reads beside the field. */
function check(field: Field, input: string | boolean): { value?: unknown; error?: string; omit?: boolean } {
  if (field.kind === "boolean") return { value: input === true };
  const text = typeof input === "string" ? input : "";
  const empty = field.kind === "text" || field.kind === "textarea" ? text === "" : text.trim() === "";
  if (empty) {
    if (field.required && !field.nullable) return { error: "Required." };
    return field.nullable && field.required ? { value: null } : { omit: true };
  }
  switch (field.kind) {
    case "text":
    case "textarea": {
      const n = chars(text);
      if (field.minLength !== null && n < field.minLength) return { error: `At least ${plural(field.minLength, "character")}.` };
      if (field.maxLength !== null && n > field.maxLength)
        return { error: `At most ${plural(field.maxLength, "character")} (now ${n.toLocaleString("en")}).` };
      if (field.pattern !== null) {
        let re: RegExp | null = null;
        try {
          re = new RegExp(field.pattern, "u");
        } catch {
          re = null; // a pattern JavaScript cannot read: leave the check to the API
        }
        if (re && !re.test(text)) return { error: "Not in the expected format." };
      }
      return { value: text };
    }
    case "number":
    case "integer": {
      const value = Number(text.trim());
      if (!Number.isFinite(value)) return { error: "Enter a number." };
      if (field.kind === "integer" && !Number.isInteger(value)) return { error: "Enter a whole number." };
      if (field.minimum !== null && value < field.minimum) return { error: `At least ${field.minimum}.` };
      if (field.maximum !== null && value > field.maximum) return { error: `At most ${field.maximum}.` };
      if (field.exclusiveMinimum !== null && value <= field.exclusiveMinimum)
        return { error: `More than ${field.exclusiveMinimum}.` };
      if (field.exclusiveMaximum !== null && value >= field.exclusiveMaximum)
        return { error: `Less than ${field.exclusiveMaximum}.` };
      return { value };
    }
    case "enum": {
      const found = field.options.find((o) => optionKey(o) === text);
      return found === undefined ? { error: "Choose one of the options." } : { value: found };
    }
    case "json":
      try {
        return { value: JSON.parse(text) };
      } catch {
        return { error: "Not valid JSON." };
      }
  }
}

/**
 * The payload the inputs make, or the errors that stop it. Optional fields left empty are left
 * out; only the schema's own properties are sent.
 */
export function buildPayload(fields: Field[], values: Values): { payload?: unknown; errors: Errors } {
  const errors: Errors = {};
  const payload: Record<string, unknown> = {};
  for (const field of fields) {
    const result = check(field, values[field.name] ?? (field.kind === "boolean" ? false : ""));
    if (result.error) errors[field.name] = result.error;
    else if (!result.omit) payload[field.name] = result.value;
  }
  if (Object.keys(errors).length) return { errors };
  if (fields.length === 1 && fields[0].name === "") return { payload: payload[""], errors };
  return { payload, errors };
}

/** The message for one field alone (as a person leaves it), or null. */
export function fieldError(field: Field, input: string | boolean): string | null {
  return check(field, input).error ?? null;
}

/**
 * The API names a bad field `payload.<name>` (or `payload` for the whole value): map its errors
 * onto the form's fields; whatever names no field is returned as `rest`.
 */
export function apiFieldErrors(
  fields: Field[],
  errors: { field: string; message: string }[] | null | undefined,
): { byField: Errors; rest: string[] } {
  const byField: Errors = {};
  const rest: string[] = [];
  const names = new Set(fields.map((f) => f.name));
  for (const e of errors ?? []) {
    const name = e.field.replace(/^payload\.?/, "").split(".")[0];
    if (e.field.startsWith("payload") && names.has(name)) byField[name] = e.message;
    else rest.push(e.message);
  }
  return { byField, rest };
}
