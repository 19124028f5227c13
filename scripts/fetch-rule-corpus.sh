#!/usr/bin/env bash
# Regenerates tests/fixtures/third_party/ (the real rule files of
# tests/prometheus_differential.rs) from their sources:
#
# - kube-prometheus at commit 4d719f1d (Apache-2.0): the `spec:` of
#   manifests/*-prometheusRule.yaml, dumped by python3-yaml (width 1000);
# - Debian's ceph-prometheus-alerts 16.2.15+ds-0+deb12u2 (LGPL-2.1):
#   /etc/prometheus/ceph/ceph_default_alerts.yml, unchanged.
#
#   scripts/fetch-rule-corpus.sh [KUBE_PROMETHEUS_GIT_DIR [CEPH_DEB]]
#
# Without KUBE_PROMETHEUS_GIT_DIR it clones github.com/prometheus-operator/
# kube-prometheus (blobless) into a temporary folder; without CEPH_DEB it runs
# `apt-get download` for the pinned version (the bookworm archive must be in
# the apt sources).
set -euo pipefail

KP_COMMIT=4d719f1dea8853540b3823ab1fbe6be74a9953b3
CEPH_VERSION=16.2.15+ds-0+deb12u2
here=$(cd "$(dirname "$0")/.." && pwd)
out=$here/tests/fixtures/third_party
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"

kp=${1:-}
if [ -z "$kp" ]; then
  git clone -q --filter=blob:none --no-checkout https://github.com/prometheus-operator/kube-prometheus "$tmp/kp"
  kp=$tmp/kp
fi

gitdir=$kp
if [ -d "$kp/.git" ]; then gitdir=$kp/.git; fi  # a clone, or a bare repository

# manifest name -> fixture name (names shared with other tests: keep them)
while read -r manifest fixture; do
  git --git-dir="$gitdir" show "$KP_COMMIT:manifests/$manifest-prometheusRule.yaml" \
    | python3 -c 'import sys, yaml; sys.stdout.write(yaml.safe_dump(yaml.safe_load(sys.stdin)["spec"], width=1000))' \
    >"$out/$fixture"
  echo "wrote $out/$fixture"
done <<'LIST'
nodeExporter node-mixin.rules.yaml
kubernetesControlPlane kubernetes-mixin.rules.yaml
kubeStateMetrics kube-state-metrics.rules.yaml
kubePrometheus kube-prometheus.rules.yaml
prometheus prometheus.rules.yaml
alertmanager alertmanager.rules.yaml
LIST

deb=${2:-}
if [ -z "$deb" ]; then
  (cd "$tmp" && apt-get download -q "ceph-prometheus-alerts=$CEPH_VERSION")
  deb=$(ls "$tmp"/ceph-prometheus-alerts_*.deb)
fi
dpkg-deb -x "$deb" "$tmp/ceph"
cp "$tmp/ceph/etc/prometheus/ceph/ceph_default_alerts.yml" "$out/ceph_default_alerts.yml"
echo "wrote $out/ceph_default_alerts.yml"
