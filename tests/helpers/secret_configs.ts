/**
 * Invalid configurations with a distinct secret in every secret position,
 * each breaking in another way (validation, YAML syntax, `${VAR}`, PEM), and
 * what their errors must still say. Secrets are plain words, so they are
 * found as they are in JSON log lines too.
 */

/** One invalid `config.yaml`. */
export interface SecretConfig {
  readonly name: string;
  readonly yaml: string;
  /** Each must match the error output: key path, what is wrong. */
  readonly expect: readonly RegExp[];
}

/** Every secret planted below; none may ever be printed. */
export const SECRETS: readonly string[] = [
  "SxInternalPasswordList",
  "SxInternalTlsKey",
  "SxListenerTlsKey",
  "SxMeterSharedPassword",
  "SxAccountBadIdPassword",
  "SxAccountAsString",
  "SxAccountPassword",
  "SxAccountTypoPassword",
  "SxUrlPassword",
  "SxCentralPassword",
  "SxCentralPassphrase",
  "SxCentralTlsKey",
  "SxCentralEmbeddedTlsKey",
  "SxHttpToken",
  "SxEnumSecret",
  "SxListedPassword",
  "SxYamlBlockHeader",
  "SxYamlStreamScalar",
  "SxYamlAlias",
  "SxYamlQuote",
  "SxYamlCompact",
  "SxInterpolationReference",
  "SxInterpolationTail",
  "SxPemInKeyFile",
];

/** Validation (zod): every kind of problem the schema reports, each over a secret. */
const VALIDATION = `internal_broker:
  url: mqtt://127.0.0.1:11883
  password: [SxInternalPasswordList]
  tls: { key: { pem: SxInternalTlsKey } }
  embedded:
    tls: { port: 8883, cert_file: cert.pem, key_file: key.pem, key: [SxListenerTlsKey] }
  meter_auth:
    password: { value: SxMeterSharedPassword }
    accounts:
      33b1225950099: { password: SxAccountBadIdPassword }
      33B1225950098: SxAccountAsString
      33B1225950097: { password: SxAccountPassword, pasword: SxAccountTypoPassword }
      33B1225950096: { password: "" }
central_broker:
  url: "mqtt//bridge:SxUrlPassword@broker.example:1883"
  password: { nested: SxCentralPassword }
  passphrase: SxCentralPassphrase
  tls: { key: [SxCentralTlsKey] }
  embedded:
    tls: { port: 8884, cert_file: cert.pem, key_file: key.pem, key: { a: SxCentralEmbeddedTlsKey } }
http: { token: SxHttpToken }
meters:
  profile: { password: SxEnumSecret }
homeassistant: [ { password: SxListedPassword } ]
`;

/** The configurations, one error kind (or several, validated together) each. */
export const SECRET_CONFIGS: readonly SecretConfig[] = [
  {
    name: "validation",
    yaml: VALIDATION,
    expect: [
      /internal_broker\.password: Invalid input: expected string, received array \(value not shown: it is a secret\)/,
      /internal_broker\.tls\.key: .*expected string, received object/,
      /internal_broker\.embedded\.tls\.key: .*expected string, received array/,
      /internal_broker\.meter_auth\.password: .*expected string, received object/,
      /internal_broker\.meter_auth\.accounts\.33b1225950099: invalid key: meter id must be exactly 13 characters 0-9 or A-Z/,
      /internal_broker\.meter_auth\.accounts\.33B1225950098: Invalid input: expected object, received string/,
      /internal_broker\.meter_auth\.accounts\.33B1225950097\.pasword: unknown key/,
      /internal_broker\.meter_auth\.accounts\.33B1225950096\.password: a meter account needs a password/,
      /central_broker\.url: "mqtt\/\/<credentials>@broker\.example:1883" is not a broker URL/,
      /central_broker\.password: .*expected string, received object/,
      /central_broker\.passphrase: unknown key/,
      /central_broker\.tls\.key: .*expected string, received array/,
      /central_broker\.embedded\.tls\.key: .*expected string, received object/,
      /http\.token: unknown key/,
      /meters\.profile: a map is not one of default, full/,
      /homeassistant: Invalid input: expected object, received array/,
    ],
  },
  {
    name: "YAML: a block scalar header with extra characters",
    yaml: "central_broker:\n  url: mqtt://127.0.0.1:1883\n  password: |SxYamlBlockHeader\n",
    expect: [/:3:\d+: YAML syntax error: Block scalar header includes extra characters: \*\*\*/],
  },
  {
    name: "YAML: a stray token before the value",
    yaml: "central_broker:\n  password: ] SxYamlStreamScalar\n",
    expect: [/:2:\d+: YAML syntax error: Unexpected scalar token in YAML stream: "\*\*\*"/],
  },
  {
    name: "YAML: an alias that is not defined",
    yaml: "internal_broker:\n  meter_auth:\n    password: *SxYamlAlias\n",
    expect: [/YAML error: Unresolved alias \(the anchor must be set before the alias\): \*\*\*/],
  },
  {
    name: "YAML: a quote left open",
    yaml: 'central_broker:\n  password: "SxYamlQuote\n',
    expect: [/YAML syntax error: Missing closing "quote/],
  },
  {
    name: "YAML: a mapping in a compact mapping",
    yaml: "central_broker:\n  password: SxYamlCompact: x\n",
    expect: [/:2:\d+: YAML syntax error: Nested mappings are not allowed in compact mappings/],
  },
  {
    name: "${VAR}: an invalid reference in a password",
    yaml: 'central_broker:\n  password: "${SxInterpolationReference"\n',
    expect: [
      /central_broker\.password: holds a \$\{ that starts no valid reference; use \$\{NAME\}/,
    ],
  },
  {
    name: "${VAR}: an unset variable in a password",
    yaml: 'central_broker:\n  password: "${KPM33B_UNSET_VARIABLE}SxInterpolationTail"\n',
    expect: [/central_broker\.password: environment variable KPM33B_UNSET_VARIABLE is not set/],
  },
  {
    name: "PEM text where a file name belongs",
    yaml: "central_broker:\n  url: mqtts://127.0.0.1:8883\n  tls:\n    key_file: " +
      '"-----BEGIN PRIVATE KEY-----\\nSxPemInKeyFile\\n-----END PRIVATE KEY-----\\n"\n',
    expect: [/central_broker\.tls\.key_file: holds PEM text, not a file name/],
  },
];

/** The planted secrets that `text` repeats. */
export function leakedSecrets(text: string): string[] {
  return SECRETS.filter((secret) => text.includes(secret));
}
