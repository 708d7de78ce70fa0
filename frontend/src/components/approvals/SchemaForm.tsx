"use client";

import type { Errors, Field, Values } from "@/lib/schemaForm";
import { optionKey } from "@/lib/schemaForm";

/**
 * The inputs of an approval's edit schema (fields from `fieldsOf`, checks in `buildPayload`):
 * every input has a visible label, says whether it is required, and carries its error by
 * `aria-describedby`. Controlled: the card keeps the values and errors.
 */
export function SchemaForm({
  idPrefix,
  fields,
  values,
  errors,
  disabled,
  onChange,
  onBlur,
}: {
  idPrefix: string;
  fields: Field[];
  values: Values;
  errors: Errors;
  disabled?: boolean;
  onChange: (name: string, value: string | boolean) => void;
  onBlur?: (name: string) => void;
}) {
  return (
    <div className="schema-form">
      {fields.map((field) => (
        <FieldInput
          key={field.name}
          id={`${idPrefix}-${field.name || "value"}`}
          field={field}
          value={values[field.name] ?? (field.kind === "boolean" ? false : "")}
          error={errors[field.name] ?? null}
          disabled={disabled}
          onChange={(v) => onChange(field.name, v)}
          onBlur={() => onBlur?.(field.name)}
        />
      ))}
    </div>
  );
}

function hints(field: Field): string[] {
  const out: string[] = [];
  if (field.description) out.push(field.description);
  if (field.kind === "text" || field.kind === "textarea") {
    if (field.minLength !== null && field.minLength > 1 && field.maxLength !== null)
      out.push(`${field.minLength.toLocaleString("en")}–${field.maxLength.toLocaleString("en")} characters.`);
    else if (field.maxLength !== null) out.push(`Up to ${field.maxLength.toLocaleString("en")} characters.`);
    else if (field.minLength !== null && field.minLength > 1) out.push(`At least ${field.minLength.toLocaleString("en")} characters.`);
  }
  if (field.kind === "number" || field.kind === "integer") {
    const low = field.minimum ?? field.exclusiveMinimum;
    const high = field.maximum ?? field.exclusiveMaximum;
    const whole = field.kind === "integer" ? "A whole number" : "A number";
    if (low !== null && high !== null) out.push(`${whole} from ${low} to ${high}.`);
    else if (low !== null) out.push(`${whole}, ${field.exclusiveMinimum !== null ? "more than" : "at least"} ${low}.`);
    else if (high !== null) out.push(`${whole}, ${field.exclusiveMaximum !== null ? "less than" : "at most"} ${high}.`);
    else out.push(`${whole}.`);
  }
  if (field.kind === "json") out.push("JSON.");
  return out;
}

function FieldInput({
  id,
  field,
  value,
  error,
  disabled,
  onChange,
  onBlur,
}: {
  id: string;
  field: Field;
  value: string | boolean;
  error: string | null;
  disabled?: boolean;
  onChange: (value: string | boolean) => void;
  onBlur: () => void;
}) {
  const hintText = hints(field);
  const describedBy = [hintText.length ? `${id}-hint` : null, error ? `${id}-error` : null].filter(Boolean).join(" ") || undefined;
  const common = {
    id,
    name: field.name || "value",
    disabled,
    onBlur,
    "aria-invalid": error ? true : undefined,
    "aria-describedby": describedBy,
    "aria-required": field.required && !field.nullable ? true : undefined,
  } as const;
  const text = typeof value === "string" ? value : "";
  const marker = field.kind === "boolean" ? null : field.required && !field.nullable ? "required" : "optional";

  if (field.kind === "boolean") {
    return (
      <div className={`schema-field schema-boolean${error ? " invalid" : ""}`}>
        <input {...common} type="checkbox" checked={value === true} onChange={(e) => onChange(e.target.checked)} />
        <label htmlFor={id}>{field.label}</label>
        {hintText.length ? (
          <p className="field-hint" id={`${id}-hint`}>
            {hintText.join(" ")}
          </p>
        ) : null}
        {error ? (
          <p className="field-error" id={`${id}-error`}>
            {error}
          </p>
        ) : null}
      </div>
    );
  }

  let input;
  switch (field.kind) {
    case "textarea":
    case "json": {
      const lines = text.split("\n").length + Math.floor(text.length / 90);
      input = (
        <textarea
          {...common}
          className={field.kind === "json" ? "mono" : undefined}
          rows={Math.min(16, Math.max(4, lines + 1))}
          value={text}
          onChange={(e) => onChange(e.target.value)}
        />
      );
      break;
    }
    case "number":
    case "integer":
      input = (
        <input
          {...common}
          type="text"
          inputMode={field.kind === "integer" ? "numeric" : "decimal"}
          autoComplete="off"
          value={text}
          onChange={(e) => onChange(e.target.value)}
        />
      );
      break;
    case "enum":
      input = (
        <select {...common} value={text} onChange={(e) => onChange(e.target.value)}>
          <option value="">{field.required && !field.nullable ? "Choose…" : "(none)"}</option>
          {field.options.map((o) => (
            <option key={optionKey(o)} value={optionKey(o)}>
              {typeof o === "string" ? o : JSON.stringify(o)}
            </option>
          ))}
        </select>
      );
      break;
    default:
      input = <input {...common} type="text" autoComplete="off" value={text} onChange={(e) => onChange(e.target.value)} />;
  }

  const count =
    (field.kind === "textarea" || field.kind === "text") && field.maxLength !== null ? [...text].length : null;

  return (
    <div className={`schema-field${error ? " invalid" : ""}`}>
      <label htmlFor={id}>
        {field.label} {marker ? <span className="field-marker">({marker})</span> : null}
      </label>
      {input}
      <div className="field-foot">
        {hintText.length ? (
          <p className="field-hint" id={`${id}-hint`}>
            {hintText.join(" ")}
          </p>
        ) : null}
        {count !== null && field.maxLength !== null ? (
          <span className={`field-count${count > field.maxLength ? " over" : ""}`} aria-hidden="true">
            {count.toLocaleString("en")} / {field.maxLength.toLocaleString("en")}
          </span>
        ) : null}
      </div>
      {error ? (
        <p className="field-error" id={`${id}-error`}>
          {error}
        </p>
      ) : null}
    </div>
  );
}
