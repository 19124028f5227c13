//! Differential test against the reference: the same real third-party rule
//! files (tests/fixtures/third_party/: node-mixin, kubernetes-mixin,
//! kube-state-metrics, kube-prometheus, Prometheus and Alertmanager mixins,
//! Ceph) and tocsin's own tests/fixtures/differential/tocsin-exactness.rules.yaml
//! (what those files do not exercise in labels and annotations: `__name__`,
//! ranging over `$labels`, a label templated to "", a rule label overriding
//! a series label, `$externalURL`/`pathPrefix`, `graphLink`/`tableLink`,
//! `query`, the `humanize*` family, `printf`, no `severity` label, one name
//! with two severities) loaded into a real Prometheus (Debian's) and into
//! tocsin, the same data pushed through the Pushgateway, a scripted series
//! of value changes. At every step the active alerts (labels, state
//! pending/firing) must be equal and the rendered annotations
//! byte-identical; Prometheus is right.
//!
//! - One Prometheus of this test (scrape and evaluation every second,
//!   `honor_labels`, external URL `http://127.0.0.1:PORT/prom`) evaluates
//!   the files, recording rules included; tocsin (in process,
//!   `evaluation_interval: 1s`, `prometheus.external_url` the same URL)
//!   queries that same Prometheus, so recorded series exist for it too.
//! - Both get the same copy of the files in which `for:` / `keep_firing_for:`
//!   other than 0 became `3s`; nothing else is changed.
//! - Each step pushes its values, waits until Prometheus has scraped them,
//!   then compares Prometheus's `GET /api/v1/alerts` with tocsin's (pending
//!   and firing) until they are equal twice in a row or the step's time is
//!   up. An alert differs if it differed in every comparison of the last
//!   3 s; the differences of each step are printed per rule.
//! - What the annotations print does not depend on when a side evaluates:
//!   counters grow at a constant rate per second and the ratios printed are
//!   of proportional counters born together; an `increase`/`rate` printed
//!   with "%.0f" grows so slowly that it prints 0; one printed with digits
//!   (`humanize`, "%.4g", "%.2f") jumps from 0 to +Inf, which prints "+Inf";
//!   gauges are constant within a step.
//! - The test fails if tocsin refuses a file or if anything differs at any
//!   step.
//!
//! Figures (2 shared cores, debug build): 8 files, 192 alerting rules (all
//! loaded by Prometheus and by tocsin), 5 steps, 172 rules exercised (fired
//! in Prometheus at least once: node-mixin 26 of 26, kubernetes-mixin 59 of
//! 63, kube-state-metrics 4 of 4, kube-prometheus 3 of 4, Prometheus mixin
//! 23 of 23, Alertmanager mixin 8 of 9, Ceph 44 of 58, tocsin-exactness 5
//! of 5); differences per step [0, 0, 0, 0, 0]; about 45 s (a step that
//! differs runs to its timeout: about 20 s).
//! Not exercised: the Alertmanager mixin's warning
//! `AlertmanagerClusterFailedToSendAlerts` (`integration!~".*"` matches no
//! series), kubernetes-mixin's four `KubeAPIErrorBudgetBurn` (they need the
//! apiserver SLO recording rules' request and latency histograms),
//! kube-prometheus's `InfoInhibitor` (an info alert alone in its
//! namespace), 14 Ceph rules (no data for them).

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use common::{Daemon, OwnPrometheus, env, get_json_at, http};

/// The rule files, as named in tests/fixtures/third_party/.
const FIXTURES: [&str; 7] = [
    "node-mixin.rules.yaml",
    "kubernetes-mixin.rules.yaml",
    "kube-state-metrics.rules.yaml",
    "kube-prometheus.rules.yaml",
    "prometheus.rules.yaml",
    "alertmanager.rules.yaml",
    "ceph_default_alerts.yml",
];

/// What every `for:` / `keep_firing_for:` other than 0 becomes.
const SHORT_FOR: &str = "3s";

const STEPS: [&str; 5] = [
    "all healthy",
    "many things break",
    "some recover",
    "values change",
    "all healthy again",
];

/// How long one step may take to agree (after the scrape and `SETTLE`).
const STEP_TIMEOUT: Duration = Duration::from_secs(14);
/// `for` plus a couple of evaluations: both sides have had time to fire.
const SETTLE: Duration = Duration::from_secs(5);
/// An alert differs if it differed in every comparison of this last span.
const PERSISTS: Duration = Duration::from_secs(3);

/// The test's own Pushgateway jobs (the series of the rules' `job=` selectors).
const JOBS: [&str; 10] = [
    "node-exporter",
    "kube-state-metrics",
    "kubelet",
    "apiserver",
    "kube-scheduler",
    "kube-controller-manager",
    "prometheus-k8s",
    "alertmanager-main",
    "ceph",
    "diff",
];

/// The test's own rule file (tests/fixtures/differential/): what the
/// third-party files do not exercise in labels and annotations.
const OWN: &str = "tocsin-exactness.rules.yaml";

/// The external URL's path of the test's Prometheus (`$externalURL`,
/// `pathPrefix`); tocsin gets the same URL as `prometheus.external_url`.
const EXTERNAL_PATH: &str = "/prom";

/// The file's text with every `for:` / `keep_firing_for:` other than zero
/// made [`SHORT_FOR`]; every other byte as it was.
fn shorten_for(text: &str) -> String {
    let re =
        regex::Regex::new(r"(?m)^(\s*(?:-\s+)?(?:for|keep_firing_for):\s*)(\S+)[ \t]*$").unwrap();
    re.replace_all(text, |c: &regex::Captures| {
        let v = c[2].trim_matches(|ch| ch == '"' || ch == '\'');
        let zero = v.trim_end_matches(|ch: char| ch.is_ascii_alphabetic()) == "0";
        if zero {
            c[0].to_string()
        } else {
            format!("{}{SHORT_FOR}", &c[1])
        }
    })
    .into_owned()
}

/// A rule file as data (YAML read by the crate tocsin reads its files with).
fn parse(text: &str) -> Value {
    serde_saphyr::from_str(text).unwrap()
}

// ---------------------------------------------------------------- the data

/// `name{labels} value` lines of one Pushgateway job.
#[derive(Default)]
struct Lines(String);

impl Lines {
    fn add(&mut self, name: &str, labels: &str, value: f64) {
        let v = if value == f64::INFINITY {
            "+Inf".to_string()
        } else {
            value.to_string()
        };
        self.0.push_str(&format!("{name}{{{labels}}} {v}\n"));
    }
}

/// Every job's series at step `step`, `t` seconds after the pusher started
/// (counters are `rate * t`), `age` seconds after the step began. Step 0
/// and 4 are healthy; 1 breaks many things; 2 repairs some; 3 changes the
/// values of what is still broken.
fn world(step: usize, t: f64, age: f64) -> Vec<(&'static str, String)> {
    let broken = matches!(step, 1..=3);
    let b1 = step == 1;
    let b13 = step == 1 || step == 3;
    let changed = step == 3;
    let pick = |healthy: f64, bad: f64, changed_to: f64| match step {
        1 | 2 => bad,
        3 => changed_to,
        _ => healthy,
    };

    // --- node_exporter, two nodes: node-1 always healthy, node-2 breaks
    let mut n = Lines::default();
    for (node, bad) in [("node-1", false), ("node-2", broken)] {
        let inst = format!("instance=\"{node}:9100\"");
        let v = |healthy: f64, br: f64, ch: f64| if bad { pick(healthy, br, ch) } else { healthy };
        let fs = format!("{inst},device=\"/dev/sda1\",fstype=\"ext4\",mountpoint=\"/\"");
        let size = 1e12;
        // % free: 50 healthy; 0.104 broken; 2.5 changed (only the <5/<10/<15 rules)
        let free = v(50.0, 0.104, 2.5) / 100.0 * size;
        n.add("node_filesystem_size_bytes", &fs, size);
        n.add("node_filesystem_avail_bytes", &fs, free);
        n.add("node_filesystem_free_bytes", &fs, free);
        n.add("node_filesystem_readonly", &fs, 0.0);
        n.add("node_filesystem_files", &fs, 1e6);
        n.add("node_filesystem_files_free", &fs, v(6e5, 1e4, 4e4));
        n.add(
            "node_uname_info",
            &format!("{inst},nodename=\"{node}\""),
            1.0,
        );
        n.add(
            "node_nf_conntrack_entries",
            &inst,
            v(1000.0, 8000.0, 9000.0),
        );
        n.add("node_nf_conntrack_entries_limit", &inst, 10000.0);
        n.add("node_textfile_scrape_error", &inst, v(0.0, 1.0, 1.0));
        n.add("node_timex_offset_seconds", &inst, v(0.0, 0.1, 0.2));
        n.add("node_timex_sync_status", &inst, v(1.0, 0.0, 0.0));
        n.add("node_timex_maxerror_seconds", &inst, v(0.0, 16.0, 16.0));
        let md = format!("{inst},device=\"md0\"");
        n.add("node_md_disks_required", &md, 2.0);
        n.add(
            "node_md_disks",
            &format!("{md},state=\"active\""),
            v(2.0, 1.0, 1.0),
        );
        n.add(
            "node_md_disks",
            &format!("{md},state=\"failed\""),
            v(0.0, 1.0, 0.0),
        );
        n.add("node_filefd_allocated", &inst, v(1000.0, 9500.0, 8000.0));
        n.add("node_filefd_maximum", &inst, 10000.0);
        for cpu in ["0", "1"] {
            // frozen: counted by NodeSystemSaturation, never a CPU usage rate
            n.add(
                "node_cpu_seconds_total",
                &format!("{inst},cpu=\"{cpu}\",mode=\"idle\""),
                1000.0,
            );
        }
        n.add("node_load1", &inst, v(0.5, 5.0, 7.0));
        n.add("node_memory_MemTotal_bytes", &inst, 8e9);
        n.add("node_memory_MemAvailable_bytes", &inst, v(4e9, 4e8, 4e9));
        n.add(
            "node_systemd_unit_state",
            &format!("{inst},name=\"nginx.service\",state=\"failed\""),
            v(0.0, 1.0, 1.0),
        );
        n.add(
            "node_bonding_slaves",
            &format!("{inst},master=\"bond0\""),
            2.0,
        );
        n.add(
            "node_bonding_active",
            &format!("{inst},master=\"bond0\""),
            v(2.0, 1.0, 2.0),
        );
        // Healthy NIC: packets, no errors, no drops.
        let mut nic = |dev: &str, k_err: f64, k_drop: f64, mtu: f64| {
            let l = format!("{inst},device=\"{dev}\"");
            let pk = 1000.0 * t;
            for dir in ["receive", "transmit"] {
                n.add(&format!("node_network_{dir}_packets_total"), &l, pk);
                n.add(&format!("node_network_{dir}_errs_total"), &l, k_err * pk);
                n.add(&format!("node_network_{dir}_drop_total"), &l, k_drop * pk);
            }
            n.add("node_network_up", &l, 1.0);
            n.add("node_network_mtu_bytes", &l, mtu);
        };
        nic(
            "eth0",
            0.0,
            0.0,
            if bad && broken { 9000.0 } else { 1500.0 },
        );
        // Broken NICs exist only while broken: their error ratio is constant.
        if bad && (step == 1 || step == 2) {
            nic("eth1", 0.05, 0.02, 1500.0);
        }
        if bad && changed {
            nic("eth2", 0.25, 0.0, 1500.0);
        }
    }

    // --- kube-state-metrics
    let mut k = Lines::default();
    let ns = "namespace=\"shop\"";
    k.add(
        "kube_pod_container_status_waiting_reason",
        &format!("{ns},pod=\"web-1\",container=\"app\",reason=\"CrashLoopBackOff\""),
        if b13 { 1.0 } else { 0.0 },
    );
    k.add(
        "kube_pod_container_status_waiting_reason",
        &format!("{ns},pod=\"web-2\",container=\"app\",reason=\"ContainerCreating\""),
        if broken { 1.0 } else { 0.0 },
    );
    for phase in ["Pending", "Running", "Succeeded", "Failed", "Unknown"] {
        let on = if broken { "Pending" } else { "Running" };
        k.add(
            "kube_pod_status_phase",
            &format!("{ns},pod=\"web-2\",phase=\"{phase}\""),
            if phase == on { 1.0 } else { 0.0 },
        );
    }
    k.add(
        "kube_pod_owner",
        &format!("{ns},pod=\"web-2\",owner_kind=\"ReplicaSet\",owner_name=\"web-5d9\""),
        1.0,
    );
    let dep = format!("{ns},deployment=\"web\"");
    k.add("kube_deployment_metadata_generation", &dep, 4.0);
    k.add(
        "kube_deployment_status_observed_generation",
        &dep,
        if broken { 3.0 } else { 4.0 },
    );
    k.add("kube_deployment_spec_replicas", &dep, 3.0);
    k.add(
        "kube_deployment_status_replicas_available",
        &dep,
        pick(3.0, 1.0, 2.0),
    );
    k.add("kube_deployment_status_replicas_updated", &dep, 3.0);
    k.add(
        "kube_deployment_status_condition",
        &format!("{dep},condition=\"Progressing\",status=\"false\""),
        if b13 { 1.0 } else { 0.0 },
    );
    let sts = format!("{ns},statefulset=\"db\"");
    k.add("kube_statefulset_replicas", &sts, 3.0);
    k.add(
        "kube_statefulset_status_replicas_ready",
        &sts,
        pick(3.0, 1.0, 2.0),
    );
    k.add("kube_statefulset_status_replicas_updated", &sts, 3.0);
    k.add("kube_statefulset_metadata_generation", &sts, 2.0);
    k.add(
        "kube_statefulset_status_observed_generation",
        &sts,
        if b1 { 1.0 } else { 2.0 },
    );
    let ds = format!("{ns},daemonset=\"agent\"");
    k.add("kube_daemonset_status_desired_number_scheduled", &ds, 5.0);
    k.add(
        "kube_daemonset_status_current_number_scheduled",
        &ds,
        pick(5.0, 3.0, 1.0),
    );
    k.add(
        "kube_daemonset_status_number_misscheduled",
        &ds,
        pick(0.0, 1.0, 2.0),
    );
    k.add("kube_daemonset_status_updated_number_scheduled", &ds, 5.0);
    k.add("kube_daemonset_status_number_available", &ds, 5.0);
    k.add(
        "kube_job_failed",
        &format!("{ns},job_name=\"backup\",condition=\"true\""),
        if b13 { 1.0 } else { 0.0 },
    );
    let hpa = format!("{ns},horizontalpodautoscaler=\"web\"");
    k.add(
        "kube_horizontalpodautoscaler_status_desired_replicas",
        &hpa,
        if broken { 5.0 } else { 3.0 },
    );
    k.add(
        "kube_horizontalpodautoscaler_status_current_replicas",
        &hpa,
        3.0,
    );
    k.add("kube_horizontalpodautoscaler_spec_min_replicas", &hpa, 1.0);
    k.add(
        "kube_horizontalpodautoscaler_spec_max_replicas",
        &hpa,
        if broken { 3.0 } else { 10.0 },
    );
    let pdb = format!("{ns},poddisruptionbudget=\"web\"");
    k.add(
        "kube_poddisruptionbudget_status_desired_healthy",
        &pdb,
        pick(2.0, 3.0, 5.0),
    );
    k.add("kube_poddisruptionbudget_status_current_healthy", &pdb, 2.0);
    for phase in ["Bound", "Failed"] {
        let on = if b13 { "Failed" } else { "Bound" };
        k.add(
            "kube_persistentvolume_status_phase",
            &format!("persistentvolume=\"pv-1\",phase=\"{phase}\""),
            if phase == on { 1.0 } else { 0.0 },
        );
    }
    for node in ["node-1", "node-2"] {
        let bad = node == "node-2";
        let l = format!("node=\"{node}\"");
        k.add("kube_node_info", &l, 1.0);
        k.add("kube_node_spec_unschedulable", &l, 0.0);
        k.add(
            "kube_node_status_condition",
            &format!("{l},condition=\"Ready\",status=\"true\""),
            if bad && b13 { 0.0 } else { 1.0 },
        );
        k.add(
            "kube_node_status_condition",
            &format!("{l},condition=\"MemoryPressure\",status=\"true\""),
            if bad && broken { 1.0 } else { 0.0 },
        );
        k.add(
            "kube_node_status_allocatable",
            &format!("{l},resource=\"cpu\",unit=\"core\""),
            4.0,
        );
        k.add(
            "kube_node_status_allocatable",
            &format!("{l},resource=\"memory\",unit=\"byte\""),
            16e9,
        );
        k.add(
            "kube_node_status_allocatable",
            &format!("{l},resource=\"pods\",unit=\"integer\""),
            110.0,
        );
    }
    let quota = format!("{ns},resourcequota=\"q\"");
    k.add(
        "kube_resourcequota",
        &format!("{quota},resource=\"requests.cpu\",type=\"hard\""),
        if broken { 20.0 } else { 4.0 },
    );
    k.add(
        "kube_resourcequota",
        &format!("{quota},resource=\"requests.cpu\",type=\"used\""),
        pick(1.0, 19.0, 25.0),
    );
    k.add(
        "kube_resourcequota",
        &format!("{quota},resource=\"requests.memory\",type=\"hard\""),
        8e9,
    );
    k.add(
        "kube_resourcequota",
        &format!("{quota},resource=\"requests.memory\",type=\"used\""),
        if broken { 8e9 } else { 1e9 },
    );
    // list/watch totals: errors a constant share of all while broken
    let lists = 10.0 * t;
    k.add(
        "kube_state_metrics_list_total",
        "resource=\"pods\",result=\"success\"",
        lists,
    );
    k.add(
        "kube_state_metrics_list_total",
        "resource=\"pods\",result=\"error\"",
        if b1 { 0.5 * lists } else { 0.0 },
    );
    for (inst, shards) in [("ksm-0", 2.0), ("ksm-1", if b13 { 3.0 } else { 2.0 })] {
        let l = format!("instance=\"{inst}\"");
        k.add("kube_state_metrics_total_shards", &l, shards);
    }
    k.add(
        "kube_state_metrics_shard_ordinal",
        "instance=\"ksm-0\",shard_ordinal=\"0\"",
        0.0,
    );
    k.add(
        "kube_state_metrics_shard_ordinal",
        "instance=\"ksm-1\",shard_ordinal=\"1\"",
        1.0,
    );

    // --- kubelet (metrics_path="/metrics")
    let mut kl = Lines::default();
    for node in ["node-1", "node-2"] {
        let bad = node == "node-2";
        let inst = format!("instance=\"{node}:10250\",metrics_path=\"/metrics\"");
        // node-2's kubelet is down in steps 1 and 3, node-1's too in step 3
        let down = (bad && b13) || changed;
        kl.add("up", &inst, if down { 0.0 } else { 1.0 });
        kl.add("kubelet_node_name", &format!("{inst},node=\"{node}\""), 1.0);
        kl.add(
            "kubelet_certificate_manager_client_ttl_seconds",
            &format!("{inst},node=\"{node}\""),
            if bad { pick(3e7, 3600.0, 90061.0) } else { 3e7 },
        );
        kl.add(
            "kubelet_certificate_manager_server_ttl_seconds",
            &format!("{inst},node=\"{node}\""),
            if bad {
                pick(3e7, 500000.0, 50000.0)
            } else {
                3e7
            },
        );
        kl.add(
            "kubernetes_build_info",
            &format!(
                "{inst},git_version=\"{}\"",
                if bad && broken { "v1.27.3" } else { "v1.28.1" }
            ),
            1.0,
        );
        kl.add(
            "kubelet_evictions",
            &format!("{inst},eviction_signal=\"memory.available\""),
            if bad && b1 { 0.1 * t } else { 0.0 },
        );
        let pvc = format!("{inst},{ns},persistentvolumeclaim=\"data-db-{node}\"");
        let cap = 1e11;
        let avail = if bad { pick(0.5, 0.02, 0.1) } else { 0.5 } * cap;
        kl.add("kubelet_volume_stats_capacity_bytes", &pvc, cap);
        kl.add("kubelet_volume_stats_available_bytes", &pvc, avail);
        kl.add("kubelet_volume_stats_used_bytes", &pvc, cap - avail);
        kl.add("kubelet_volume_stats_inodes", &pvc, 1e6);
        let inodes_free = if bad && broken { 2e4 } else { 5e5 };
        kl.add("kubelet_volume_stats_inodes_free", &pvc, inodes_free);
        kl.add("kubelet_volume_stats_inodes_used", &pvc, 1e6 - inodes_free);
        // cAdvisor: a container throttled a constant share of its periods,
        // while broken (both counters born together, so their ratio is exact)
        if bad && broken {
            let c = format!(
                "instance=\"{node}:10250\",metrics_path=\"/metrics/cadvisor\",{ns},pod=\"web-1\",container=\"app\""
            );
            let periods = 10.0 * t;
            kl.add("container_cpu_cfs_periods_total", &c, periods);
            kl.add(
                "container_cpu_cfs_throttled_periods_total",
                &c,
                0.5 * periods,
            );
        }
    }

    // --- apiserver
    let mut a = Lines::default();
    let api = "instance=\"10.0.0.1:6443\"";
    // down in steps 1 and 3, gone in step 2
    if step != 2 {
        a.add("up", api, if b13 { 0.0 } else { 1.0 });
    }
    a.add(
        "kubernetes_build_info",
        &format!("{api},git_version=\"v1.28.1\""),
        1.0,
    );
    // Counters always there are frozen (rate 0); the growing ones are
    // families born together in the steps that use them, so the ratios the
    // annotations print are exact at any time.
    a.add(
        "rest_client_requests_total",
        &format!("{api},code=\"200\",method=\"GET\""),
        1000.0,
    );
    a.add(
        "apiserver_request_total",
        &format!("{api},code=\"200\",verb=\"GET\",resource=\"pods\",scope=\"namespace\""),
        1000.0,
    );
    let reqs = 100.0 * t;
    if broken {
        let client = "instance=\"10.0.0.2:6443\"";
        for (code, share) in [("200", 0.9), ("500", 0.1)] {
            a.add(
                "rest_client_requests_total",
                &format!("{client},code=\"{code}\",method=\"GET\""),
                share * reqs,
            );
        }
    }
    if b1 {
        a.add(
            "apiserver_request_total",
            &format!("{api},code=\"200\",verb=\"LIST\",resource=\"nodes\",scope=\"cluster\""),
            reqs,
        );
        a.add(
            "apiserver_request_terminations_total",
            &format!("{api},code=\"429\",verb=\"LIST\",resource=\"nodes\""),
            0.5 * reqs,
        );
    }
    let agg = format!("{api},name=\"v1beta1.metrics.k8s.io\",namespace=\"kube-system\"");
    if b1 {
        a.add("aggregator_unavailable_apiservice", &agg, 1.0);
    }
    a.add(
        "aggregator_unavailable_apiservice_total",
        &format!("{agg},reason=\"MissingEndpoints\""),
        if b1 { 2.0 * t } else { 0.0 },
    );

    // --- ceph (one mgr exporter)
    let mut c = Lines::default();
    let mgr = "instance=\"ceph-mgr:9283\"";
    c.add("up", mgr, if b13 { 0.0 } else { 1.0 });
    c.add("ceph_health_status", mgr, pick(0.0, 2.0, 1.0));
    let details: [(&str, bool); 30] = [
        ("MON_DOWN", broken),
        ("MON_DISK_CRIT", b1),
        ("MON_DISK_LOW", broken),
        ("MON_CLOCK_SKEW", b13),
        ("OSD_HOST_DOWN", broken),
        ("OSD_DOWN", broken),
        ("OSD_NEARFULL", b13),
        ("OSD_FULL", b1),
        ("OSD_BACKFILLFULL", b1),
        ("OSD_TOO_MANY_REPAIRS", changed),
        ("OSD_SLOW_PING_TIME_FRONT", b1),
        ("OSD_SLOW_PING_TIME_BACK", b13),
        ("BLUESTORE_DISK_SIZE_MISMATCH", b1),
        ("DEVICE_HEALTH", broken),
        ("DEVICE_HEALTH_TOOMANY", b1),
        ("DEVICE_HEALTH_IN_USE", changed),
        ("BLUESTORE_SPURIOUS_READ_ERRORS", b1),
        ("MDS_DAMAGE", b1),
        ("MDS_ALL_DOWN", b1),
        ("FS_DEGRADED", b13),
        ("MDS_UP_LESS_THAN_MAX", b1),
        ("MDS_INSUFFICIENT_STANDBY", broken),
        ("FS_WITH_FAILED_MDS", b1),
        ("RECENT_MGR_MODULE_CRASH", b1),
        ("PG_DAMAGED", b1),
        ("PG_AVAILABILITY", b1),
        ("PG_NOT_SCRUBBED", broken),
        ("POOL_FULL", b1),
        ("POOL_NEAR_FULL", b13),
        ("RECENT_CRASH", broken),
    ];
    for (name, on) in details {
        c.add(
            "ceph_health_detail",
            &format!("{mgr},name=\"{name}\",severity=\"HEALTH_WARN\""),
            if on { 1.0 } else { 0.0 },
        );
    }
    for (mon, up) in [("mon.a", true), ("mon.b", !broken), ("mon.c", true)] {
        let l = format!("{mgr},ceph_daemon=\"{mon}\"");
        c.add("ceph_mon_quorum_status", &l, if up { 1.0 } else { 0.0 });
        c.add(
            "ceph_mon_metadata",
            &format!("{l},hostname=\"host-{mon}\""),
            1.0,
        );
    }
    for (osd, host, up, pgs) in [
        ("osd.0", "host-a", true, 100.0),
        (
            "osd.1",
            "host-b",
            !broken,
            if broken { 40.0 } else { 100.0 },
        ),
        ("osd.2", "host-b", !b13, 100.0),
    ] {
        let l = format!("{mgr},ceph_daemon=\"{osd}\"");
        c.add("ceph_osd_up", &l, if up { 1.0 } else { 0.0 });
        c.add(
            "ceph_osd_metadata",
            &format!("{l},hostname=\"{host}\""),
            1.0,
        );
        c.add("ceph_osd_numpg", &l, pgs);
    }
    let pool = format!("{mgr},pool_id=\"1\"");
    c.add("ceph_pool_metadata", &format!("{pool},name=\"rbd\""), 1.0);
    c.add("ceph_pg_total", &pool, 128.0);
    c.add("ceph_pg_active", &pool, pick(128.0, 120.0, 100.0));
    c.add("ceph_pg_clean", &pool, pick(128.0, 100.0, 128.0));
    c.add("ceph_healthcheck_slow_ops", mgr, pick(0.0, 5.0, 12.0));
    c.add(
        "ceph_daemon_health_metrics",
        &format!("{mgr},ceph_daemon=\"osd.1\",type=\"SLOW_OPS\""),
        if b13 { 3.0 } else { 0.0 },
    );

    // Counters whose `increase`/`rate` only has to be > 0 and is printed
    // with "%.0f": a tiny constant rate (the increase stays far below 0.5).
    let tiny = 1e-4 * t;
    // Counters whose value is printed with digits (`humanize`, "%.4g"): 0,
    // then +Inf from 2.5 s into step 1 on; what they print is "+Inf" at any
    // time.
    let inf = if step > 1 || (step == 1 && age >= 2.5) {
        f64::INFINITY
    } else {
        0.0
    };

    // --- kubernetes-mixin rules the data above does not reach
    for node in ["node-1", "node-2"] {
        k.add(
            "kube_node_status_capacity",
            &format!("node=\"{node}\",resource=\"pods\",unit=\"integer\""),
            110.0,
        );
    }
    if broken {
        let cache = format!("{ns},statefulset=\"cache\"");
        k.add("kube_statefulset_replicas", &cache, 3.0);
        k.add("kube_statefulset_status_replicas_ready", &cache, 3.0);
        k.add("kube_statefulset_status_replicas_updated", &cache, 1.0);
        k.add(
            "kube_statefulset_status_current_revision",
            &format!("{cache},revision=\"cache-1\""),
            1.0,
        );
        k.add(
            "kube_statefulset_status_update_revision",
            &format!("{cache},revision=\"cache-2\""),
            1.0,
        );
        let job = format!("{ns},job_name=\"migrate\"");
        k.add("kube_job_status_start_time", &job, 1e9);
        k.add("kube_job_status_active", &job, 1.0);
        k.add(
            "kube_node_spec_taint",
            "node=\"node-2\",key=\"node.kubernetes.io/unreachable\",effect=\"NoSchedule\"",
            1.0,
        );
        let inst = "instance=\"node-2:10250\",metrics_path=\"/metrics\"";
        kl.add("kubelet_running_pods", inst, 109.0);
        // every pod start in the +Inf bucket: the 99th percentile is 120
        let starts = 2.0 * t;
        for (le, n) in [("30", 0.0), ("120", 0.0), ("+Inf", starts)] {
            kl.add(
                "kubelet_pod_worker_duration_seconds_bucket",
                &format!("{inst},operation_type=\"create\",le=\"{le}\""),
                n,
            );
        }
        let certs = format!("{inst},node=\"node-2\"");
        kl.add(
            "kubelet_certificate_manager_client_expiration_renew_errors",
            &certs,
            inf,
        );
        kl.add("kubelet_server_expiration_renew_errors", &certs, inf);
        // client certificates: all in the first bucket (1% quantile 36 s)
        let api = "instance=\"10.0.0.1:6443\"";
        let seen = 3.0 * t;
        for le in ["3600", "86400", "+Inf"] {
            a.add(
                "apiserver_client_certificate_expiration_seconds_bucket",
                &format!("{api},le=\"{le}\""),
                seen,
            );
        }
        a.add(
            "apiserver_client_certificate_expiration_seconds_count",
            api,
            seen,
        );
    }
    let mut sched = Lines::default();
    let mut cm = Lines::default();
    if broken {
        sched.add("up", "instance=\"10.0.0.3:10259\"", 0.0);
        cm.add("up", "instance=\"10.0.0.3:10257\"", 0.0);
        // a second quota, memory requests overcommitted
        k.add(
            "kube_resourcequota",
            &format!("{ns},resourcequota=\"big\",resource=\"requests.memory\",type=\"hard\""),
            1e11,
        );
        k.add(
            "kube_resourcequota",
            &format!("{ns},resourcequota=\"big\",resource=\"requests.memory\",type=\"used\""),
            0.0,
        );
        // web-2 requests more than the cluster can hold without its
        // largest node (recorded namespace_{cpu,memory}:…:sum)
        for (resource, unit, v) in [("cpu", "core", 10.0), ("memory", "byte", 40e9)] {
            k.add(
                "kube_pod_container_resource_requests",
                &format!(
                    "{ns},pod=\"web-2\",container=\"app\",node=\"node-2\",resource=\"{resource}\",unit=\"{unit}\""
                ),
                v,
            );
        }
        // an HPA below its desired replicas, neither at min nor at max
        let hpa = format!("{ns},horizontalpodautoscaler=\"api\"");
        k.add(
            "kube_horizontalpodautoscaler_status_desired_replicas",
            &hpa,
            5.0,
        );
        k.add(
            "kube_horizontalpodautoscaler_status_current_replicas",
            &hpa,
            3.0,
        );
        k.add("kube_horizontalpodautoscaler_spec_min_replicas", &hpa, 1.0);
        k.add("kube_horizontalpodautoscaler_spec_max_replicas", &hpa, 10.0);
        // watch errors a constant share of all
        let watches = 10.0 * t;
        k.add(
            "kube_state_metrics_watch_total",
            "resource=\"pods\",result=\"success\"",
            watches,
        );
        k.add(
            "kube_state_metrics_watch_total",
            "resource=\"pods\",result=\"error\"",
            0.5 * watches,
        );
        // PLEG relists all in the +Inf bucket: the recorded 99th percentile is 10
        let inst = "instance=\"node-2:10250\",metrics_path=\"/metrics\"";
        let relists = 5.0 * t;
        for (le, n) in [("1", 0.0), ("10", 0.0), ("+Inf", relists)] {
            kl.add(
                "kubelet_pleg_relist_duration_seconds_bucket",
                &format!("{inst},le=\"{le}\""),
                n,
            );
        }
        // node-2: a crashlooping service, CPU, page faults and disk IO
        // printed with "%.2f" (so +Inf), an interface flapping every second
        let node2 = "instance=\"node-2:9100\"";
        n.add(
            "node_systemd_service_restart_total",
            &format!("{node2},name=\"worker.service\""),
            t,
        );
        for cpu in ["0", "1"] {
            n.add(
                "node_cpu_seconds_total",
                &format!("{node2},cpu=\"{cpu}\",mode=\"user\""),
                inf,
            );
        }
        n.add("node_vmstat_pgmajfault", node2, inf);
        n.add(
            "node_disk_io_time_weighted_seconds_total",
            &format!("{node2},device=\"sda\""),
            inf,
        );
        n.add(
            "node_network_up",
            &format!("{node2},device=\"eth3\""),
            t.floor() % 2.0,
        );
    }

    // --- Prometheus mixin: pod prometheus-k8s-1 exists from step 1 to 3,
    // broken from birth (the rules' max_over_time/[5m] windows would keep
    // a healthy past)
    let mut pm = Lines::default();
    if broken {
        let p = "namespace=\"monitoring\",pod=\"prometheus-k8s-1\",instance=\"10.0.0.6:9090\"";
        let l = |extra: &str| format!("{p},{extra}");
        pm.add("prometheus_config_last_reload_successful", p, 0.0);
        pm.add(
            "prometheus_sd_refresh_failures_total",
            &l("mechanism=\"kubernetes\""),
            tiny,
        );
        pm.add("prometheus_sd_kubernetes_failures_total", p, tiny);
        pm.add("prometheus_notifications_queue_length", p, 100.0);
        pm.add("prometheus_notifications_queue_capacity", p, 10.0);
        let am = l("alertmanager=\"http://10.0.0.9:9093/api/v2/alerts\"");
        pm.add("prometheus_notifications_errors_total", &am, t);
        pm.add("prometheus_notifications_sent_total", &am, 10.0 * t);
        pm.add("prometheus_notifications_alertmanagers_discovered", p, 0.0);
        pm.add("prometheus_tsdb_reloads_failures_total", p, inf);
        pm.add("prometheus_tsdb_compactions_failed_total", p, inf);
        pm.add(
            "prometheus_tsdb_head_samples_appended_total",
            &l("type=\"float\""),
            1000.0,
        );
        pm.add(
            "prometheus_target_metadata_cache_entries",
            &l("scrape_job=\"node\""),
            5.0,
        );
        pm.add(
            "prometheus_target_scrapes_sample_duplicate_timestamp_total",
            p,
            inf,
        );
        pm.add(
            "prometheus_target_scrapes_sample_out_of_order_total",
            p,
            inf,
        );
        let rw = l("remote_name=\"thanos\",url=\"http://thanos:19291/api/v1/receive\"");
        pm.add("prometheus_remote_storage_failed_samples_total", &rw, t);
        pm.add(
            "prometheus_remote_storage_succeeded_samples_total",
            &rw,
            9.0 * t,
        );
        pm.add(
            "prometheus_remote_storage_queue_highest_timestamp_seconds",
            &rw,
            1000.0,
        );
        pm.add(
            "prometheus_remote_storage_queue_highest_sent_timestamp_seconds",
            &rw,
            500.0,
        );
        pm.add("prometheus_remote_storage_shards_desired", &rw, 10.0);
        pm.add("prometheus_remote_storage_shards_max", &rw, 5.0);
        let group = l("rule_group=\"/etc/rules.yaml;node\"");
        pm.add("prometheus_rule_evaluation_failures_total", &group, tiny);
        pm.add(
            "prometheus_rule_group_iterations_missed_total",
            &group,
            tiny,
        );
        let pool = l("scrape_job=\"node\"");
        for name in [
            "prometheus_target_scrape_pool_exceeded_target_limit_total",
            "prometheus_target_scrape_pool_exceeded_label_limits_total",
            "prometheus_target_scrapes_exceeded_body_size_limit_total",
            "prometheus_target_scrapes_exceeded_sample_limit_total",
            "prometheus_target_sync_failed_total",
        ] {
            pm.add(name, &pool, tiny);
        }
        pm.add("prometheus_engine_queries", p, 19.0);
        pm.add("prometheus_engine_queries_concurrent_max", p, 20.0);
    }

    // --- Alertmanager mixin: a two-member cluster from step 1 to 3,
    // alertmanager-main-1 broken from birth
    let mut am = Lines::default();
    if broken {
        // as the Pushgateway's own process_start_time_seconds, or it refuses it
        am.0.push_str(
            "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n# TYPE process_start_time_seconds gauge\n",
        );
        for (i, bad) in [(0, false), (1, true)] {
            let p = format!(
                "namespace=\"monitoring\",service=\"alertmanager-main\",container=\"alertmanager\",pod=\"alertmanager-main-{i}\",instance=\"10.0.1.{i}:9093\""
            );
            let f = |good: f64, broken: f64| if bad { broken } else { good };
            am.add("up", &p, f(1.0, 0.0));
            am.add(
                "alertmanager_config_last_reload_successful",
                &p,
                f(1.0, 0.0),
            );
            am.add("alertmanager_cluster_members", &p, f(2.0, 1.0));
            am.add("alertmanager_cluster_failed_peers", &p, f(0.0, 1.0));
            am.add("alertmanager_config_hash", &p, f(1111.0, 2222.0));
            // restarted at every push: changes() grows by one a second
            am.add("process_start_time_seconds", &p, f(1e9, 1e9 + t.floor()));
            if bad {
                let w = format!("{p},integration=\"webhook\"");
                am.add(
                    "alertmanager_notifications_failed_total",
                    &format!("{w},reason=\"other\""),
                    t,
                );
                am.add("alertmanager_notifications_total", &w, 10.0 * t);
            }
        }
    }

    // --- tocsin's own rules (tocsin-exactness.rules.yaml)
    let mut d = Lines::default();
    d.add("diff_step", "", step as f64);
    let (kitchen, hall) = match step {
        1 | 2 => (21.125, 8.875),
        3 => (16.5, 3.0),
        _ => (1.0, 2.0),
    };
    d.add("diff_exact_temperature", "room=\"kitchen\"", kitchen);
    d.add("diff_exact_temperature", "room=\"hall\"", hall);
    d.add(
        "diff_exact_bytes",
        "",
        if broken { 3221225472.0 } else { 0.0 },
    );
    d.add(
        "diff_exact_boot_time_seconds",
        "",
        if broken {
            1700000000.0 + step as f64
        } else {
            0.0
        },
    );

    vec![
        ("node-exporter", n.0),
        ("kube-state-metrics", k.0),
        ("kubelet", kl.0),
        ("apiserver", a.0),
        ("kube-scheduler", sched.0),
        ("kube-controller-manager", cm.0),
        ("prometheus-k8s", pm.0),
        ("alertmanager-main", am.0),
        ("ceph", c.0),
        ("diff", d.0),
    ]
}

/// Pushes [`world`] of the current step every second until dropped (at
/// most 10 minutes).
struct Pusher {
    step: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Pusher {
    fn start() -> Pusher {
        let step = Arc::new(AtomicUsize::new(0));
        let s = Arc::clone(&step);
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let client = http();
            let (mut current, mut since) = (usize::MAX, Instant::now());
            for _ in 0..600 {
                let at = s.load(Ordering::SeqCst);
                if at != current {
                    (current, since) = (at, Instant::now());
                }
                let t = started.elapsed().as_secs_f64();
                for (job, body) in world(at, t, since.elapsed().as_secs_f64()) {
                    let url = format!("{}/metrics/job/{job}", env().pushgateway_url);
                    match client.put(&url).body(body).send().await {
                        Ok(r) if r.status().is_success() => {}
                        Ok(r) => {
                            let status = r.status();
                            let why = r.text().await.unwrap_or_default();
                            eprintln!("push {job}: {status} {why}");
                        }
                        Err(e) => eprintln!("push {job}: {e}"),
                    }
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        Pusher { step, task }
    }
}

impl Drop for Pusher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn delete_jobs() {
    for job in JOBS {
        let url = format!("{}/metrics/job/{job}", env().pushgateway_url);
        let _ = http().delete(&url).send().await;
    }
}

// ------------------------------------------------------------ the alerts

/// One active alert: its state and annotations.
#[derive(Debug, Clone, PartialEq)]
struct Active {
    labels: BTreeMap<String, String>,
    state: String,
    annotations: BTreeMap<String, String>,
}

type Alerts = BTreeMap<String, Active>;

fn key(labels: &BTreeMap<String, String>) -> String {
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

fn string_map(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

fn collect<'a>(items: impl Iterator<Item = &'a Value>) -> Alerts {
    items
        .map(|a| {
            let active = Active {
                labels: string_map(&a["labels"]),
                state: a["state"].as_str().unwrap_or_default().to_string(),
                annotations: string_map(&a["annotations"]),
            };
            (key(&active.labels), active)
        })
        .collect()
}

async fn prometheus_alerts(url: &str) -> Alerts {
    let v = get_json_at(&format!("{url}/api/v1/alerts")).await;
    collect(v["data"]["alerts"].as_array().into_iter().flatten())
}

async fn tocsin_alerts(d: &Daemon) -> Alerts {
    let v = d.get_json("/api/v1/alerts").await;
    collect(
        v.as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["state"] == "pending" || a["state"] == "firing"),
    )
}

/// The difference of one alert: what Prometheus and tocsin say.
#[derive(Debug, Clone)]
struct Diff {
    alertname: String,
    labels: String,
    lines: Vec<String>,
}

fn alertname(a: &Active) -> String {
    a.labels.get("alertname").cloned().unwrap_or_default()
}

/// Every difference, by the key of Prometheus's alert (or tocsin's, when
/// Prometheus has none like it). Alerts of one name whose labels differ are
/// paired, so a label difference shows as one.
fn compare(p: &Alerts, t: &Alerts) -> BTreeMap<String, Diff> {
    let mut out = BTreeMap::new();
    let mut only_p: Vec<&Active> = Vec::new();
    for (k, pa) in p {
        match t.get(k) {
            Some(ta) => {
                let mut lines = Vec::new();
                if pa.state != ta.state {
                    lines.push(format!(
                        "state: Prometheus {}, tocsin {}",
                        pa.state, ta.state
                    ));
                }
                annotation_lines(&pa.annotations, &ta.annotations, &mut lines);
                if !lines.is_empty() {
                    out.insert(
                        k.clone(),
                        Diff {
                            alertname: alertname(pa),
                            labels: k.clone(),
                            lines,
                        },
                    );
                }
            }
            None => only_p.push(pa),
        }
    }
    let mut only_t: Vec<&Active> = t
        .iter()
        .filter(|(k, _)| !p.contains_key(*k))
        .map(|(_, a)| a)
        .collect();
    for pa in only_p {
        let name = alertname(pa);
        let best = only_t
            .iter()
            .enumerate()
            .filter(|(_, ta)| alertname(ta) == name)
            .min_by_key(|(_, ta)| label_distance(&pa.labels, &ta.labels))
            .map(|(i, _)| i);
        let mut lines = Vec::new();
        match best {
            Some(i) => {
                let ta = only_t.remove(i);
                for (k, v) in &pa.labels {
                    match ta.labels.get(k) {
                        None => lines.push(format!("label {k}: Prometheus {v:?}, tocsin has none")),
                        Some(tv) if tv != v => {
                            lines.push(format!("label {k}: Prometheus {v:?}, tocsin {tv:?}"))
                        }
                        _ => {}
                    }
                }
                for (k, v) in &ta.labels {
                    if !pa.labels.contains_key(k) {
                        lines.push(format!("label {k}: Prometheus has none, tocsin {v:?}"));
                    }
                }
                if pa.state != ta.state {
                    lines.push(format!(
                        "state: Prometheus {}, tocsin {}",
                        pa.state, ta.state
                    ));
                }
                annotation_lines(&pa.annotations, &ta.annotations, &mut lines);
            }
            None => lines.push(format!("only in Prometheus ({})", pa.state)),
        }
        let k = key(&pa.labels);
        out.insert(
            k.clone(),
            Diff {
                alertname: name,
                labels: k,
                lines,
            },
        );
    }
    for ta in only_t {
        let k = key(&ta.labels);
        out.insert(
            format!("tocsin {k}"),
            Diff {
                alertname: alertname(ta),
                labels: k,
                lines: vec![format!("only in tocsin ({})", ta.state)],
            },
        );
    }
    out
}

fn label_distance(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> usize {
    a.iter().filter(|(k, v)| b.get(*k) != Some(v)).count()
        + b.keys().filter(|k| !a.contains_key(*k)).count()
}

fn annotation_lines(
    p: &BTreeMap<String, String>,
    t: &BTreeMap<String, String>,
    lines: &mut Vec<String>,
) {
    for (k, v) in p {
        match t.get(k) {
            None => lines.push(format!("annotation {k}: Prometheus {v:?}, tocsin has none")),
            Some(tv) if tv != v => lines.push(format!(
                "annotation {k}:\n        Prometheus {v:?}\n        tocsin     {tv:?}"
            )),
            _ => {}
        }
    }
    for (k, v) in t {
        if !p.contains_key(k) {
            lines.push(format!("annotation {k}: Prometheus has none, tocsin {v:?}"));
        }
    }
}

/// Prometheus's alerting rules with a firing alert now, as `file/group/name/query`.
async fn firing_rules(url: &str, into: &mut BTreeSet<String>, all: &mut BTreeSet<String>) {
    let v = get_json_at(&format!("{url}/api/v1/rules?type=alert")).await;
    for g in v["data"]["groups"].as_array().into_iter().flatten() {
        for r in g["rules"].as_array().into_iter().flatten() {
            let file = g["file"].as_str().unwrap_or_default();
            let file = Path::new(file)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            let id = format!(
                "{file} / {} / {} / {}",
                g["name"].as_str().unwrap_or_default(),
                r["name"].as_str().unwrap_or_default(),
                r["query"].as_str().unwrap_or_default()
            );
            all.insert(id.clone());
            if r["alerts"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|a| a["state"] == "firing")
            {
                into.insert(id);
            }
        }
    }
}

async fn wait_scraped(url: &str, step: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v = get_json_at(&format!("{url}/api/v1/query?query=diff_step")).await;
        if v["data"]["result"][0]["value"][1].as_str() == Some(&step.to_string()) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus did not scrape step {step} within 20 s: {v}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

// ------------------------------------------------------------- the test

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tocsin_agrees_with_prometheus_on_real_rule_files() {
    let started = Instant::now();
    let work = tempfile::Builder::new()
        .prefix("tocsin-diff-")
        .tempdir()
        .unwrap();
    let prom_rules = work.path().join("prometheus-rules");
    let dir = work.path().join("tocsin");
    std::fs::create_dir_all(&prom_rules).unwrap();
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    let fixtures = common::repo().join("tests/fixtures/third_party");
    let own = common::repo().join("tests/fixtures/differential").join(OWN);
    let files: Vec<(&str, PathBuf)> = FIXTURES
        .iter()
        .map(|f| (*f, fixtures.join(f)))
        .chain([(OWN, own)])
        .collect();

    // The same rewritten copy for both; which alert names each file has.
    let mut file_of_alert: HashMap<String, String> = HashMap::new();
    let mut alerting_rules = 0usize;
    let mut refused: Vec<(String, String)> = Vec::new();
    let mut for_tocsin: Vec<PathBuf> = Vec::new();
    for (name, source) in &files {
        let name = *name;
        let text = std::fs::read_to_string(source)
            .unwrap_or_else(|e| panic!("{name}: {e} (scripts/fetch-rule-corpus.sh makes it)"));
        let short = shorten_for(&text);
        std::fs::write(prom_rules.join(name), &short).unwrap();
        let doc = parse(&short);
        for g in doc["groups"].as_array().unwrap() {
            for r in g["rules"].as_array().unwrap() {
                if let Some(a) = r["alert"].as_str() {
                    alerting_rules += 1;
                    file_of_alert.insert(a.to_string(), name.to_string());
                }
            }
        }
        let path = dir.join("rules").join(name);
        std::fs::write(&path, short).unwrap();
        let opts = tocsin::rules::LoadOptions {
            default_interval: Duration::from_secs(1),
        };
        match tocsin::rules::load_rules(std::slice::from_ref(&path), &opts) {
            Ok(_) => for_tocsin.push(path),
            Err(e) => {
                std::fs::remove_file(&path).unwrap();
                refused.push((name.to_string(), e.to_string()));
            }
        }
    }
    let opts = tocsin::rules::LoadOptions {
        default_interval: Duration::from_secs(1),
    };
    if let Err(e) = tocsin::rules::load_rules(&for_tocsin, &opts) {
        panic!("tocsin takes each file alone but not all together:\n{e}");
    }

    delete_jobs().await;
    let pusher = Pusher::start();
    let prometheus = OwnPrometheus::with_rule_files_and_external_path(
        prom_rules.join("*").to_str().unwrap(),
        EXTERNAL_PATH,
    );
    let purl = prometheus.url.clone();
    std::fs::write(
        dir.join("tocsin.yaml"),
        format!(
            "listen: 127.0.0.1:0\nrules: [rules/]\ndata_dir: data\nevaluation_interval: 1s\nprometheus: {{url: \"{purl}\", external_url: \"{purl}{EXTERNAL_PATH}\", timeout: 5s}}\n"
        ),
    )
    .unwrap();
    let daemon = Daemon::start(&dir).await;

    let mut exercised = BTreeSet::new();
    let mut all_rules = BTreeSet::new();
    let mut per_step: Vec<BTreeMap<String, Diff>> = Vec::new();
    let mut fired_per_step: Vec<BTreeSet<String>> = Vec::new();
    for (step, what) in STEPS.iter().enumerate() {
        let step_started = Instant::now();
        pusher.step.store(step, Ordering::SeqCst);
        wait_scraped(&purl, step).await;
        tokio::time::sleep(SETTLE).await;
        let mut fired = BTreeSet::new();
        let mut history: Vec<(Instant, BTreeMap<String, Diff>)> = Vec::new();
        let deadline = Instant::now() + STEP_TIMEOUT;
        let mut equal_in_a_row = 0;
        let mut polls = 0;
        while polls < 200 {
            polls += 1;
            let p = prometheus_alerts(&purl).await;
            let t = tocsin_alerts(&daemon).await;
            firing_rules(&purl, &mut fired, &mut all_rules).await;
            let d = compare(&p, &t);
            equal_in_a_row = if d.is_empty() { equal_in_a_row + 1 } else { 0 };
            history.push((Instant::now(), d));
            if equal_in_a_row >= 2 || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        // Differences that held over the last PERSISTS.
        let last = history
            .last()
            .map(|(at, _)| *at)
            .unwrap_or_else(Instant::now);
        let recent: Vec<&BTreeMap<String, Diff>> = history
            .iter()
            .filter(|(at, _)| last.duration_since(*at) <= PERSISTS)
            .map(|(_, d)| d)
            .collect();
        let lasting: BTreeMap<String, Diff> = recent
            .last()
            .map(|d| {
                d.iter()
                    .filter(|(k, _)| recent.iter().all(|r| r.contains_key(*k)))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let alerts_now = history.len();
        eprintln!(
            "\n=== step {step} ({what}): {} rules firing in Prometheus, {} lasting difference(s), {alerts_now} comparison(s), {:.1} s",
            fired.len(),
            lasting.len(),
            step_started.elapsed().as_secs_f64()
        );
        let mut by_rule: BTreeMap<&str, Vec<&Diff>> = BTreeMap::new();
        for d in lasting.values() {
            by_rule.entry(d.alertname.as_str()).or_default().push(d);
        }
        for (rule, diffs) in &by_rule {
            let file = file_of_alert.get(*rule).map(String::as_str).unwrap_or("?");
            eprintln!("  rule {rule} ({file}):");
            for d in diffs {
                eprintln!("    {}", d.labels);
                for l in &d.lines {
                    eprintln!("      {l}");
                }
            }
        }
        exercised.extend(fired.iter().cloned());
        fired_per_step.push(fired);
        per_step.push(lasting);
    }
    drop(pusher);

    // ---------------------------------------------------------- verdict
    eprintln!("\n=== files tocsin refused:");
    for (f, e) in &refused {
        eprintln!("  {f}:\n    {}", e.replace('\n', "\n    "));
    }
    eprintln!("\n=== rules firing in Prometheus per step:");
    for (step, fired) in fired_per_step.iter().enumerate() {
        let names: BTreeSet<&str> = fired
            .iter()
            .filter_map(|id| id.split(" / ").nth(2))
            .collect();
        eprintln!(
            "  step {step}: {}",
            names.into_iter().collect::<Vec<_>>().join(" ")
        );
    }
    let diffs: Vec<usize> = per_step.iter().map(BTreeMap::len).collect();
    for (name, _) in &files {
        let of = |s: &BTreeSet<String>| {
            s.iter()
                .filter(|id| id.starts_with(&format!("{name} / ")))
                .count()
        };
        eprintln!(
            "  {name}: {} of {} alerting rules exercised",
            of(&exercised),
            of(&all_rules)
        );
    }
    eprintln!("\n=== alerting rules that never fired in Prometheus:");
    for id in all_rules.difference(&exercised) {
        eprintln!(
            "  {}",
            id.splitn(4, " / ").take(3).collect::<Vec<_>>().join(" / ")
        );
    }
    eprintln!(
        "\n=== FIGURES: {} files ({} refused by tocsin), {alerting_rules} alerting rules ({} loaded by Prometheus), {} exercised, {} steps, differences per step {diffs:?}, {:.0} s",
        files.len(),
        refused.len(),
        all_rules.len(),
        exercised.len(),
        STEPS.len(),
        started.elapsed().as_secs_f64()
    );
    daemon.stop().await;
    delete_jobs().await;
    drop(prometheus);

    assert_eq!(
        all_rules.len(),
        alerting_rules,
        "Prometheus did not load every alerting rule of the files"
    );
    assert!(
        exercised.len() >= 60,
        "only {} rules fired in Prometheus: is the data reaching it?",
        exercised.len()
    );
    assert!(
        refused.is_empty(),
        "tocsin refused {} file(s) (see above)",
        refused.len()
    );
    assert!(
        diffs.iter().all(|n| *n == 0),
        "tocsin and Prometheus differ: {diffs:?} difference(s) per step (see above)"
    );
}
