#!/bin/sh
# Installs kpm33b-bridge as a systemd service on a gateway (Raspberry Pi OS,
# Debian, Ubuntu), or removes it. Safe to run again: an existing
# configuration, secrets file and state are never overwritten; units and the
# program are replaced, and a running service is restarted.
#
#   sudo deploy/install.sh [--binary PATH | --deno] [--mosquitto] [--no-start]
#   sudo deploy/install.sh --uninstall [--purge]
#
# Run it from the project directory (the release archive or a checkout).
set -eu

usage() {
	cat <<'EOF'
Usage: deploy/install.sh [options]

Install:
  --binary PATH   the compiled bridge to install (default: dist/kpm33b-bridge,
                  built with `deno task compile` or `deno task compile:arm64`)
  --deno          run from this source tree with `deno run` instead: copies it
                  to /opt/kpm33b-bridge and installs its npm dependencies there
  --mosquitto     Mosquitto (Debian package mosquitto) as the meters' broker
                  instead of the embedded one: kpm33b-mosquitto.service with
                  mosquitto/internal.conf, accounts from config.yaml
  --no-start      enable the units but do not (re)start them

Remove:
  --uninstall     stop and remove the units and the program; keeps
                  /etc/kpm33b and /var/lib/kpm33b*
  --purge         with --uninstall: remove configuration and state as well

  --root DIR      install into DIR instead of / (packaging, tests): units are
                  enabled with `systemctl --root`, nothing is started
  -h, --help      this help
EOF
}

SRC=$(cd "$(dirname "$0")/.." && pwd)
ROOT=
BINARY=
MODE=binary
MOSQUITTO=no
START=yes
ACTION=install
PURGE=no

while [ $# -gt 0 ]; do
	case "$1" in
	--binary) [ $# -ge 2 ] || { usage >&2; exit 64; }; BINARY=$2; shift ;;
	--deno) MODE=deno ;;
	--mosquitto) MOSQUITTO=yes ;;
	--no-start) START=no ;;
	--uninstall) ACTION=uninstall ;;
	--purge) PURGE=yes ;;
	--root) [ $# -ge 2 ] || { usage >&2; exit 64; }; ROOT=${2%/}; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "install.sh: unknown option $1" >&2; usage >&2; exit 64 ;;
	esac
	shift
done

BIN_DIR=$ROOT/usr/local/bin
DOC_DIR=$ROOT/usr/local/share/doc/kpm33b-bridge
OPT_DIR=$ROOT/opt/kpm33b-bridge
UNIT_DIR=$ROOT/etc/systemd/system
CONF_DIR=$ROOT/etc/kpm33b
STATE_DIR=$ROOT/var/lib/kpm33b
MOSQUITTO_STATE_DIR=$ROOT/var/lib/kpm33b-mosquitto
UNITS="kpm33b-bridge.service kpm33b-mosquitto.service"

say() { echo "install.sh: $*"; }
die() { echo "install.sh: $*" >&2; exit 1; }

# systemctl against the live system, or only the unit files under --root.
systemd_running() { [ -z "$ROOT" ] && [ -d /run/systemd/system ]; }
sysctl() {
	if [ -n "$ROOT" ]; then
		systemctl --root="$ROOT" "$@"
	elif systemd_running; then
		systemctl "$@"
	else
		say "systemd is not running here; skipped: systemctl $*"
	fi
}

# Copies a file only when its content differs, so a re-run changes nothing.
put() { # mode source target
	if [ -f "$3" ] && cmp -s "$2" "$3"; then
		chmod "$1" "$3"
		return 0
	fi
	mkdir -p "$(dirname "$3")"
	install -m "$1" "$2" "$3.new"
	mv -f "$3.new" "$3"
	say "installed $3"
}

# The shipped Mosquitto configuration with its repository-relative paths made
# absolute for a system installation.
mosquitto_conf() {
	sed -e 's|^plugin_opt_config_file mosquitto/dynamic-security.json$|plugin_opt_config_file /etc/kpm33b/mosquitto/dynamic-security.json|' \
		-e 's|^persistence_location mosquitto/data/$|persistence_location /var/lib/kpm33b-mosquitto/|' \
		-e 's|^# Paths are relative to .*$|# Installed by deploy/install.sh from mosquitto/internal.conf, with absolute|' \
		-e 's|^# root); use absolute paths in production.*$|# paths. Re-run install.sh --mosquitto after changing accounts in config.yaml.|' \
		"$SRC/mosquitto/internal.conf"
}

uninstall() {
	[ "$(id -u)" = 0 ] || [ -n "$ROOT" ] || die "run as root (sudo)"
	for unit in $UNITS; do
		if [ -f "$UNIT_DIR/$unit" ]; then
			if systemd_running; then systemctl disable --now "$unit" || true; else sysctl disable "$unit" || true; fi
			rm -f "$UNIT_DIR/$unit"
			say "removed $UNIT_DIR/$unit"
		fi
	done
	rm -rf "$UNIT_DIR/kpm33b-bridge.service.d" "$OPT_DIR" "$DOC_DIR"
	rm -f "$BIN_DIR/kpm33b-bridge"
	if systemd_running; then systemctl daemon-reload; fi
	if [ "$PURGE" = yes ]; then
		rm -rf "$CONF_DIR" "$STATE_DIR" "$MOSQUITTO_STATE_DIR" \
			"$ROOT/var/lib/private/kpm33b"
		say "removed configuration and state"
	else
		say "kept $CONF_DIR and the state in $STATE_DIR (--purge removes them)"
	fi
}

install_program() {
	if [ "$MODE" = deno ]; then
		command -v deno >/dev/null 2>&1 || die "deno not found: npm install -g deno@2.9.6"
		mkdir -p "$OPT_DIR"
		# The source tree without local state, build output or dependencies.
		(cd "$SRC" && tar cf - --exclude=./node_modules --exclude=./state --exclude=./dist \
			--exclude=./.git --exclude=./mosquitto/dynamic-security.json \
			--exclude=./mosquitto/passwd --exclude=./mosquitto/acl \
			--exclude=./mosquitto/data .) | (cd "$OPT_DIR" && tar xf -)
		(cd "$OPT_DIR" && DENO_DIR="$OPT_DIR/.deno" deno install --frozen --quiet &&
			DENO_DIR="$OPT_DIR/.deno" deno cache --frozen --quiet main.ts src/*/worker.ts)
		chmod -R a+rX,go-w "$OPT_DIR"
		if [ ! -x "$BIN_DIR/deno" ]; then
			mkdir -p "$BIN_DIR"
			ln -sf "$(command -v deno)" "$BIN_DIR/deno"
		fi
		put 0644 "$SRC/deploy/systemd/kpm33b-bridge.service.d/deno-run.conf" \
			"$UNIT_DIR/kpm33b-bridge.service.d/deno-run.conf"
		rm -f "$BIN_DIR/kpm33b-bridge"
		say "installed the source tree in $OPT_DIR"
	else
		binary=${BINARY:-$SRC/dist/kpm33b-bridge}
		[ -x "$binary" ] || die "no bridge binary at $binary: build it with \`deno task compile\` (or compile:arm64 for a Raspberry Pi), pass --binary PATH, or use --deno"
		put 0755 "$binary" "$BIN_DIR/kpm33b-bridge"
		rm -rf "$UNIT_DIR/kpm33b-bridge.service.d" "$OPT_DIR"
	fi
}

bridge_cli() { # the installed bridge with its own command line
	if [ "$MODE" = deno ]; then
		(cd "$OPT_DIR" && DENO_DIR="$OPT_DIR/.deno" deno task --quiet start "$@")
	else
		"$BIN_DIR/kpm33b-bridge" "$@"
	fi
}

install_config() {
	mkdir -p "$CONF_DIR"
	chmod 0755 "$CONF_DIR"
	if [ ! -e "$CONF_DIR/config.yaml" ]; then
		install -m 0644 "$SRC/config.yaml" "$CONF_DIR/config.yaml"
		say "installed $CONF_DIR/config.yaml: edit it (central_broker.url, meters.timezone, ...)"
	fi
	if [ ! -e "$CONF_DIR/kpm33b.env" ]; then
		umask 077
		cat >"$CONF_DIR/kpm33b.env" <<'EOF'
# Secrets for kpm33b-bridge, read by systemd (this file stays root-only).
# config.yaml refers to them as ${NAME}. Restart after a change:
#   systemctl restart kpm33b-bridge
# The meters' shared password; with it the meters' broker listens on the LAN.
#KPM33B_METER_PASSWORD=
# The central (Home Assistant) broker's password for central_broker.password.
#KPM33B_CENTRAL_PASSWORD=
# The bridge's account on Mosquitto as the meters' broker (internal_broker.password).
#KPM33B_INTERNAL_PASSWORD=
EOF
		umask 022
		say "installed $CONF_DIR/kpm33b.env (mode 600) for passwords"
	fi
	chmod 0600 "$CONF_DIR/kpm33b.env"
}

install_mosquitto() {
	getent passwd mosquitto >/dev/null || die "user mosquitto not found: apt-get install -y mosquitto"
	[ -x "$ROOT/usr/sbin/mosquitto" ] || [ -n "$ROOT" ] || die "mosquitto not found: apt-get install -y mosquitto"
	tmp=$(mktemp)
	mosquitto_conf >"$tmp"
	put 0644 "$tmp" "$CONF_DIR/mosquitto/internal.conf"
	rm -f "$tmp"
	# Earlier versions' password file and ACL, which the new configuration no longer reads.
	rm -f "$CONF_DIR/mosquitto/passwd" "$CONF_DIR/mosquitto/acl"
	# Passwords come from kpm33b.env, as they will for the service.
	(
		set -a
		# shellcheck disable=SC1091
		[ -r "$CONF_DIR/kpm33b.env" ] && . "$CONF_DIR/kpm33b.env"
		set +a
		bridge_cli --config "$CONF_DIR/config.yaml" --write-mosquitto-auth "$CONF_DIR/mosquitto"
	) || die "could not write the Mosquitto accounts: set internal_broker.embedded.enabled: false, internal_broker.username and password (e.g. \${KPM33B_INTERNAL_PASSWORD} in $CONF_DIR/kpm33b.env) in $CONF_DIR/config.yaml, then run install.sh --mosquitto again"
	chown mosquitto:mosquitto "$CONF_DIR/mosquitto/dynamic-security.json"
	chmod 0600 "$CONF_DIR/mosquitto/dynamic-security.json"
	put 0644 "$SRC/deploy/systemd/kpm33b-mosquitto.service" "$UNIT_DIR/kpm33b-mosquitto.service"
}

install_all() {
	[ "$(id -u)" = 0 ] || [ -n "$ROOT" ] || die "run as root (sudo)"
	install_program
	install_config
	put 0644 "$SRC/deploy/systemd/kpm33b-bridge.service" "$UNIT_DIR/kpm33b-bridge.service"
	put 0644 "$SRC/docs/deploy.md" "$DOC_DIR/deploy.md"
	units=kpm33b-bridge.service
	if [ "$MOSQUITTO" = yes ]; then
		install_mosquitto
		units="kpm33b-mosquitto.service $units"
	fi
	if systemd_running; then systemctl daemon-reload; fi
	# shellcheck disable=SC2086
	sysctl enable $units
	if [ "$START" = yes ] && systemd_running; then
		# shellcheck disable=SC2086
		systemctl restart $units
		say "started; logs: journalctl -u kpm33b-bridge -f"
	fi
}

case "$ACTION" in
uninstall) uninstall ;;
install) install_all ;;
esac
