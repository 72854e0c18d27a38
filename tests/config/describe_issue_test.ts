import assert from "node:assert/strict";
import { z } from "zod";
import { describeIssue } from "../../src/config/describe_issue.ts";

/** Every issue of `input` against `schema`, described with the value at its path. */
function describeAll(schema: z.ZodType, input: unknown): Record<string, string> {
  const result = schema.safeParse(input);
  assert.equal(result.success, false, "the input is invalid");
  return Object.fromEntries(result.error!.issues.map((issue) => {
    let value: unknown = input;
    for (const key of issue.path) value = (value as Record<PropertyKey, unknown>)?.[key];
    return [issue.path.join("."), describeIssue(issue, value)];
  }));
}

/** A schema whose checks, several of them quoting the input, sit under secret keys. */
const Secrets = z.strictObject({
  password: z.string().max(4),
  passphrase: z.string().min(40),
  token: z.enum(["a", "b"]),
  key: z.string().regex(/^-----BEGIN/),
  secret: z.string().refine((text) => text.length > 40, {
    error: (issue) => `${JSON.stringify(issue.input)} is too weak`,
  }),
  client_secret: z.number({ error: (issue) => `${String(issue.input)} is no number` }),
  private_key: z.string().min(30, { error: (issue) => `${String(issue.input)} is too short` }),
  credentials: z.strictObject({ user: z.string() }),
});

const SECRET_INPUT = {
  password: "TooLongPassword",
  passphrase: "ShortPhrase",
  token: "UnknownToken",
  key: "NotPemKey",
  secret: "WeakSecret",
  client_secret: "StringSecret",
  private_key: "ShortPrivateKey",
  credentials: { user: 7, pass: "ExtraCredential" },
};

Deno.test("no kind of issue repeats a value under a secret key, and each says what is wrong", () => {
  const messages = describeAll(Secrets, SECRET_INPUT);
  const all = Object.values(messages).join("\n");
  for (
    const secret of [
      "TooLongPassword",
      "ShortPhrase",
      "UnknownToken",
      "NotPemKey",
      "WeakSecret",
      "StringSecret",
      "ShortPrivateKey",
      "ExtraCredential",
    ]
  ) {
    assert.equal(all.includes(secret), false, `${secret} in:\n${all}`);
  }
  for (const message of Object.values(messages)) {
    assert.match(message, /\(value not shown: it is a secret\)$/);
  }
  assert.match(messages.password ?? "", /^Too big: expected string to have <=4 characters/);
  assert.match(messages.passphrase ?? "", /^Too small: expected string to have >=40 characters/);
  assert.match(messages.token ?? "", /expected one of "a"\|"b"/);
  assert.match(messages.key ?? "", /^Invalid string: must match pattern/);
  // A schema's own message that quotes the input gives way to one made from the issue's code.
  assert.equal(messages.secret, "is not valid (value not shown: it is a secret)");
  assert.equal(
    messages.client_secret,
    "expected number, got string (value not shown: it is a secret)",
  );
  assert.equal(
    messages.private_key,
    "is too short or too small (at least 30) (value not shown: it is a secret)",
  );
  assert.match(messages["credentials.user"] ?? "", /expected string, received number/);
  assert.match(messages.credentials ?? "", /Unrecognized key: "pass"/);
});

Deno.test("an invalid record key is named by its path and the rule, never with its entry", () => {
  const Accounts = z.record(
    z.string().regex(/^[0-9A-Z]{13}$/, { error: "13 characters" }),
    z.any(),
  );
  const messages = describeAll(
    z.strictObject({ accounts: Accounts, names: Accounts }),
    { accounts: { lower: { password: "EntryPassword" } }, names: { bad: "EntryName" } },
  );
  assert.deepEqual(messages, {
    "accounts.lower": "invalid key: 13 characters",
    "names.bad": "invalid key: 13 characters",
  });
});

Deno.test("maps and lists are never shown; a scalar where a map belongs is not either", () => {
  const Schema = z.strictObject({
    broker: z.strictObject({ url: z.string() }),
    level: z.enum(["info", "debug"]),
    count: z.number(),
  });
  const messages = describeAll(Schema, {
    broker: "PastedPassword",
    level: { password: "NestedPassword" },
    count: ["ListedPassword"],
  });
  assert.deepEqual(messages, {
    broker: "Invalid input: expected object, received string",
    level: "a map is not one of info, debug",
    count: "Invalid input: expected number, received array",
  });
});

Deno.test("other values are shown, as they help to find the mistake", () => {
  const Schema = z.strictObject({
    port: z.number().max(10, { error: "must be at most 10" }),
    level: z.enum(["info", "debug"]),
    name: z.string(),
  });
  assert.deepEqual(describeAll(Schema, { port: 11, level: "verbose", name: 5 }), {
    port: "must be at most 10 (got 11)",
    level: '"verbose" is not one of info, debug',
    name: "Invalid input: expected string, received number (got 5)",
  });
  assert.deepEqual(describeAll(z.strictObject({ name: z.string() }), {}), { name: "is required" });
});
