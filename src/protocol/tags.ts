/**
 * The tag dictionary: every measurement tag of the Compere protocol with its
 * readable name and unit. Tag names are pinyin initials (`zyggl` = 正向有功
 * 总功率, total active power); readable names are what the bridge publishes.
 *
 * @module
 */

/** Units the meters report in. */
export type Unit =
  | "V"
  | "A"
  | "kW"
  | "kvar"
  | "kVA"
  | "Hz"
  | "°"
  | "%"
  | "°C"
  | "kWh"
  | "kvarh"
  | "kVAh";

/** What the dictionary knows about one tag. */
export interface TagInfo {
  /** Readable name used in published payloads, e.g. `active_power`. */
  readonly name: string;
  /** Unit, or `null` for dimensionless values such as the power factor. */
  readonly unit: Unit | null;
  /** Whether only KPM37 / KPM312 meters (with options) report the tag. */
  readonly extended?: boolean;
}

type Dictionary = Readonly<Record<string, TagInfo>>;

const PHASES = [["a", "l1"], ["b", "l2"], ["c", "l3"]] as const;

function perPhase(
  tag: (phase: string) => string,
  name: (line: string) => string,
  unit: Unit | null,
  extended = false,
): Record<string, TagInfo> {
  return Object.fromEntries(
    PHASES.map(([phase, line]) => [tag(phase), { name: name(line), unit, extended }]),
  );
}

function harmonics(): Record<string, TagInfo> {
  const entries: Record<string, TagInfo> = {};
  for (const [phase, line] of PHASES) {
    entries[`u${phase}thd`] = { name: `voltage_thd_${line}`, unit: "%", extended: true };
    entries[`i${phase}thd`] = { name: `current_thd_${line}`, unit: "%", extended: true };
    for (let order = 3; order <= 7; order++) {
      entries[`u${phase}xbl${order}`] = {
        name: `voltage_harmonic_${order}_${line}`,
        unit: "%",
        extended: true,
      };
      entries[`i${phase}xb${order}`] = {
        name: `current_harmonic_${order}_${line}`,
        unit: "%",
        extended: true,
      };
    }
  }
  return entries;
}

/** `MQTT_RT_DATA` tags: instantaneous values (the `seconds` level). */
export const INSTANT_TAGS: Dictionary = {
  ...perPhase((p) => `u${p}`, (l) => `voltage_${l}`, "V"),
  uab: { name: "voltage_l1_l2", unit: "V" },
  ubc: { name: "voltage_l2_l3", unit: "V" },
  uca: { name: "voltage_l3_l1", unit: "V" },
  ...perPhase((p) => `i${p}`, (l) => `current_${l}`, "A"),
  ...perPhase((p) => `p${p}`, (l) => `active_power_${l}`, "kW"),
  zyggl: { name: "active_power", unit: "kW" },
  ...perPhase((p) => `q${p}`, (l) => `reactive_power_${l}`, "kvar"),
  zwggl: { name: "reactive_power", unit: "kvar" },
  ...perPhase((p) => `s${p}`, (l) => `apparent_power_${l}`, "kVA"),
  zszgl: { name: "apparent_power", unit: "kVA" },
  ...perPhase((p) => `pf${p}`, (l) => `power_factor_${l}`, null),
  zglys: { name: "power_factor", unit: null },
  f: { name: "frequency", unit: "Hz" },
  ...perPhase((p) => `uxj${p}`, (l) => `voltage_angle_${l}`, "°"),
  ...perPhase((p) => `ixj${p}`, (l) => `current_angle_${l}`, "°"),
  unb: { name: "voltage_unbalance", unit: "%" },
  inb: { name: "current_unbalance", unit: "%" },
  pdm: { name: "active_power_demand", unit: "kW" },
  qdm: { name: "reactive_power_demand", unit: "kvar" },
  sdm: { name: "apparent_power_demand", unit: "kVA" },
  ...perPhase((p) => `i${p}dm`, (l) => `current_demand_${l}`, "A"),
  ig: { name: "residual_current", unit: "A", extended: true },
  ...perPhase((p) => `t${p}`, (l) => `temperature_${l}`, "°C", true),
  tn: { name: "temperature_n", unit: "°C", extended: true },
  U0: { name: "voltage_zero_sequence", unit: "V", extended: true },
  "U+": { name: "voltage_positive_sequence", unit: "V", extended: true },
  "U-": { name: "voltage_negative_sequence", unit: "V", extended: true },
  I0: { name: "current_zero_sequence", unit: "A", extended: true },
  "I+": { name: "current_positive_sequence", unit: "A", extended: true },
  "I-": { name: "current_negative_sequence", unit: "A", extended: true },
};

const TARIFFS = [["j", 1], ["f", 2], ["p", 3], ["v", 4], ["dv", 5], ["6", 6]] as const;

function tariffRegisters(): Record<string, TagInfo> {
  const entries: Record<string, TagInfo> = {};
  for (const [code, n] of TARIFFS) {
    entries[`zy${code}sz`] = { name: `active_energy_t${n}`, unit: "kWh" };
    entries[`fy${code}sz`] = { name: `active_energy_export_t${n}`, unit: "kWh" };
  }
  return entries;
}

/** `MQTT_ENY_NOW` tags: cumulative energy registers (the `minutes` level). */
export const ENERGY_TAGS: Dictionary = {
  zygsz: { name: "active_energy", unit: "kWh" },
  fygsz: { name: "active_energy_export", unit: "kWh" },
  zwgsz: { name: "reactive_energy", unit: "kvarh" },
  fwgsz: { name: "reactive_energy_export", unit: "kvarh" },
  zszsz: { name: "apparent_energy", unit: "kVAh" },
  ...tariffRegisters(),
  dmpmax: { name: "max_active_power_demand", unit: "kW", extended: true },
  dmsmax: { name: "max_apparent_power_demand", unit: "kVA", extended: true },
  ...harmonics(),
};

/** `MQTT_DAY_DATA` tags: registers frozen at 00:00 (KPM37, KPM312). */
export const DAY_TAGS: Dictionary = {
  zygdd: { name: "active_energy", unit: "kWh" },
  fygdd: { name: "active_energy_export", unit: "kWh" },
  zwgdd: { name: "reactive_energy", unit: "kvarh" },
  fwgdd: { name: "reactive_energy_export", unit: "kvarh" },
  ...tariffRegisters(),
};

/**
 * Whether a tag is a cumulative counter (an energy unit): it never decreases
 * in normal operation, so a decrease marks a bad reading or a reset.
 */
export function isCumulative(info: TagInfo): boolean {
  return info.unit?.endsWith("h") ?? false;
}

/** The cumulative energy tags of `MQTT_ENY_NOW`. */
export const CUMULATIVE_ENERGY_TAGS: ReadonlySet<string> = new Set(
  Object.entries(ENERGY_TAGS).filter(([, info]) => isCumulative(info)).map(([tag]) => tag),
);
