#!/usr/bin/env bash
# `make observe`: a real Prometheus (the distribution's package) scraping the API of `make dev`.
# Data in .flightdeck/prometheus/; the UI on 127.0.0.1:${FLIGHTDECK_PROMETHEUS_PORT:-9090}.
set -euo pipefail

api_port="${FLIGHTDECK_API_PORT:-8000}"
port="${FLIGHTDECK_PROMETHEUS_PORT:-9090}"
data_dir="${FLIGHTDECK_DATA_DIR:-.flightdeck}/prometheus"
config="docs/observability/prometheus.yml"

if ! command -v prometheus >/dev/null 2>&1; then
  cat >&2 <<MSG
flightdeck: Prometheus is not installed. Install the distribution's package, then run
'make observe' again:

  sudo apt-get install prometheus      # Debian, Ubuntu
  brew install prometheus              # macOS

(Debian starts its own prometheus service on port 9090 at install: 'sudo systemctl stop
prometheus', or run this with FLIGHTDECK_PROMETHEUS_PORT=9091.)
MSG
  exit 2
fi

if (exec 3<>"/dev/tcp/127.0.0.1/${port}") 2>/dev/null; then
  echo "flightdeck: port ${port} is in use (a prometheus service already running?): stop it," \
    "or choose another port with FLIGHTDECK_PROMETHEUS_PORT" >&2
  exit 2
fi

mkdir -p "${data_dir}"
sed "s/127\.0\.0\.1:8000/127.0.0.1:${api_port}/" "${config}" >"${data_dir}/prometheus.yml"
if ! (exec 3<>"/dev/tcp/127.0.0.1/${api_port}") 2>/dev/null; then
  echo "flightdeck: nothing answers on 127.0.0.1:${api_port} yet: start 'make dev' in another" \
    "terminal; Prometheus keeps trying every 15 s"
fi
echo "flightdeck: Prometheus on http://127.0.0.1:${port}/ scraping http://127.0.0.1:${api_port}/metrics" \
  "(targets: http://127.0.0.1:${port}/targets); Ctrl-C stops it"
echo "flightdeck: Grafana dashboard to import: docs/observability/grafana/flightdeck.json"
exec prometheus \
  --config.file="${data_dir}/prometheus.yml" \
  --storage.tsdb.path="${data_dir}/data" \
  --storage.tsdb.retention.time=15d \
  --web.listen-address="127.0.0.1:${port}"
