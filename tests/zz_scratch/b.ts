import { parseConfig } from "../../src/config/load.ts";
import { ConfigError } from "../../src/config/config_error.ts";
const env = (n: string) =>
  ({ PORT: "1884", MAX: "1024", EMPTY: "", PW: "s3cret" } as Record<string, string>)[n];
function t(text: string) {
  try {
    const c = parseConfig(text, "config.yaml", env);
    console.log("OK", JSON.stringify(c));
  } catch (e) {
    console.log(
      e instanceof ConfigError,
      JSON.stringify((e as ConfigError).problems),
      "\n  MSG:",
      (e as Error).message,
    );
  }
}
t("");
t("meters:\n  upload_interval_seconds: 45\n");
t("meters:\n  upload_interval_seconds: 60\n  timezone: Mars/Olympus\n");
t("central_broker:\n  url: http://x\n");
t("central_broker:\n  url: not a url\n");
t("metres:\n  x: 1\nmeters:\n  profil: full\n");
t("meters: [\n");
t("a: 1\n  b: 2\n");
t("central_broker:\n  url: mqtt://h:${PORT}\n  password: ${PW}\nlimits:\n  max_payload_bytes: ${MAX}\n");
t("central_broker:\n  url: mqtt://h:${NOPE:-1999}\n  password: $${PW}\n");
t("central_broker:\n  url: mqtt://h:${NOPE}\n");
t("central_broker:\n  url: mqtt://h:${EMPTY}\n");
t("meters:\n  upload_interval_seconds: ${SECS:-300}\n");
t("meters:\n  upload_interval_minutes: 7\n  profile: huge\n  fields: [current, bogus]\n");
t("meters:\n");
t("meters:\n  exclude: ['../#']\n  overrides:\n    33B1225950027:\n      profile: full\n");
t("meters:\n  overrides:\n    33B1225950027:\n      upload_interval_seconds: 45\n");
t("limits:\n  max_payload_bytes: 10\n");
t("limits:\n  max_payload_bytes: '1.5'\n");
t("logging:\n  level: verbose\n");
t("topics:\n  root: a//b\n");
t("central_broker:\n  url: ${BAD-NAME}\n");
