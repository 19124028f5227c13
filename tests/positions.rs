//! Every file error has a position: a rule or config file that is not
//! UTF-8 (the first bad byte as line:col), and an `alert:` with no name.

use std::process::Command;

fn check(dir: &std::path::Path, config: Option<&str>) -> (bool, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tocsin"));
    if let Some(cfg) = config {
        c.arg("-c").arg(dir.join(cfg));
    }
    let out = c.arg("check").arg(dir.join("rules")).output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn not_utf8_and_empty_alert_names_are_reported_with_file_line_col() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();

    std::fs::write(rules.join("latin1.yaml"), b"groups:\n  - name: caf\xe9\n").unwrap();
    let (ok, out) = check(dir.path(), None);
    assert!(!ok);
    assert!(
        out.contains("latin1.yaml:2:14: rule file is not UTF-8: byte 0xE9"),
        "{out}"
    );
    std::fs::remove_file(rules.join("latin1.yaml")).unwrap();

    std::fs::write(
        rules.join("noname.yaml"),
        "groups:\n  - name: g\n    interval: 1m\n    rules:\n      - alert:\n        heartbeat: {checks: \"x*\", condition: missing}\n        severity: error\n",
    )
    .unwrap();
    let (ok, out) = check(dir.path(), None);
    assert!(!ok);
    assert!(
        out.contains("noname.yaml:5:") && out.contains("expected an alert name"),
        "{out}"
    );
    std::fs::remove_file(rules.join("noname.yaml")).unwrap();

    std::fs::write(
        dir.path().join("c.yaml"),
        b"listen: 127.0.0.1:9750\nlanguage: \xff\n",
    )
    .unwrap();
    let (ok, out) = check(dir.path(), Some("c.yaml"));
    assert!(!ok);
    assert!(
        out.contains("c.yaml:2:11: config is not UTF-8: byte 0xFF"),
        "{out}"
    );
}
