#!/usr/bin/env bash
# Copies the chart's files from their sources of truth, which live outside the chart because
# Helm reads nothing outside its directory:
#   operators/kiln_operator/crds/*.yaml  -> charts/kiln/crds/        (the operator's CRDs)
#   infra/prometheus/kiln-rules.yaml     -> charts/kiln/files/       (the PrometheusRule's groups)
#   infra/grafana/dashboards/*.json      -> charts/kiln/files/dashboards/
# Run it after changing any source; tests/chart/test_chart_files.py fails while a copy differs.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
chart="$root/charts/kiln"

python3 "$root/infra/grafana/build.py" >/dev/null
mkdir -p "$chart/crds" "$chart/files/dashboards"
shopt -s nullglob
crds=("$root"/operators/kiln_operator/crds/*.yaml)
[ ${#crds[@]} -gt 0 ] || { echo "sync-files: no CRDs in operators/kiln_operator/crds" >&2; exit 1; }
rm -f "$chart"/crds/*.yaml "$chart"/files/dashboards/*.json
cp "${crds[@]}" "$chart/crds/"
cp "$root/infra/prometheus/kiln-rules.yaml" "$chart/files/kiln-rules.yaml"
cp "$root"/infra/grafana/dashboards/*.json "$chart/files/dashboards/"
echo "sync-files: copied CRDs, rules and dashboards into $chart"
