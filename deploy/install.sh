#!/bin/sh
# Install cryptoradar as a systemd service on a Debian/Ubuntu host. Run from a checkout, as root:
#   sudo deploy/install.sh            install or upgrade, then (re)start the service
#   sudo deploy/install.sh --no-start install or upgrade only
# Idempotent: an existing config or env file is never overwritten.
set -eu

PREFIX=${PREFIX:-/opt/cryptoradar}
CONF_DIR=/etc/cryptoradar
DATA_DIR=/var/lib/cryptoradar
LOG_DIR=/var/log/cryptoradar
UNIT=/etc/systemd/system/cryptoradar.service
SRC=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
START=1

for arg in "$@"; do
    case "$arg" in
        --no-start) START=0 ;;
        -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown option $arg" >&2; exit 2 ;;
    esac
done

if [ "$(id -u)" -ne 0 ]; then
    echo "install.sh: run as root (sudo $0)" >&2
    exit 1
fi
command -v python3 >/dev/null || { echo "install.sh: python3 (>= 3.11) is required" >&2; exit 1; }
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || { echo "install.sh: python3 >= 3.11 is required" >&2; exit 1; }

if ! id cryptoradar >/dev/null 2>&1; then
    useradd --system --home-dir "$DATA_DIR" --shell /usr/sbin/nologin --user-group cryptoradar
fi
install -d -m 0755 "$PREFIX" "$PREFIX/docs"
install -d -m 0750 -o cryptoradar -g cryptoradar "$DATA_DIR" "$LOG_DIR"
install -d -m 0750 -o root -g cryptoradar "$CONF_DIR"

python3 -m venv "$PREFIX/venv"
"$PREFIX/venv/bin/pip" install --quiet --upgrade pip
"$PREFIX/venv/bin/pip" install --quiet "$SRC"
install -m 0644 "$SRC/deploy/healthcheck.py" "$PREFIX/healthcheck.py"
install -m 0644 "$SRC/docs/deploy.md" "$PREFIX/docs/deploy.md"

if [ ! -e "$CONF_DIR/config.yaml" ]; then
    install -m 0640 -o root -g cryptoradar "$SRC/deploy/config.yaml" "$CONF_DIR/config.yaml"
fi
if [ ! -e "$CONF_DIR/cryptoradar.env" ]; then
    umask 027
    {
        echo "# Secrets for cryptoradar (read by systemd, never logged)."
        echo "CRYPTORADAR_API_HOST=127.0.0.1"
        echo "CRYPTORADAR_API_TOKEN=$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
    } > "$CONF_DIR/cryptoradar.env"
    chown root:cryptoradar "$CONF_DIR/cryptoradar.env"
    chmod 0640 "$CONF_DIR/cryptoradar.env"
fi

# Validate before (re)starting: a bad config must not replace a running service.
set -a
. "$CONF_DIR/cryptoradar.env"
set +a
"$PREFIX/venv/bin/cryptoradar" config check "$CONF_DIR/config.yaml" >/dev/null

install -m 0644 "$SRC/deploy/cryptoradar.service" "$UNIT"
systemctl daemon-reload
if [ "$START" -eq 1 ]; then
    systemctl enable cryptoradar.service
    systemctl restart cryptoradar.service
    echo "cryptoradar started: systemctl status cryptoradar; journalctl -u cryptoradar -f"
else
    echo "cryptoradar installed; start with: systemctl enable --now cryptoradar"
fi
