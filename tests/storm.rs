//! An alert storm through routing: 2 500 external alerts routed to a
//! DingTalk robot (20 messages a minute; the mock answers 130101 beyond
//! that) arrive completely, listed 100 to a message — 25 messages, none
//! refused, none dropped. The last 5 wait for the next minute: the robot's
//! limit is real, so this takes a little over a minute.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::mocks::DingTalkMock;
use common::{Daemon, wait_for};

const ALERTS: usize = 2500;
const PER_MESSAGE: usize = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_reaches_a_rate_limited_robot_completely() {
    let mock = DingTalkMock::start("tok-1", Some("SECright"), &["alert"]).await;
    let dir = Daemon::prepare(
        "groups: []\n",
        &format!(
            "targets:
  - {{name: dt, type: dingtalk, webhook: '{}', secret: SECright, keyword: alert}}
routing:
  default: off
  scopes:
    - {{match: {{storm: 'yes'}}, notify: [dt], group_wait: 2s}}
",
            mock.url()
        ),
    );
    let d = Daemon::start(&dir).await;
    for chunk in (0..ALERTS).collect::<Vec<_>>().chunks(500) {
        let batch: Vec<serde_json::Value> = chunk
            .iter()
            .map(|i| serde_json::json!({"labels": {"alertname": format!("Storm{i:04}"), "storm": "yes"}}))
            .collect();
        d.post_alerts(&batch).await;
    }

    let seen = |hits: &[common::mocks::Hit]| -> BTreeSet<usize> {
        let mut s = BTreeSet::new();
        for h in hits {
            let text = h.body["markdown"]["text"].as_str().unwrap_or("");
            for part in text.split("Storm").skip(1) {
                if let Some(i) = part.get(..4).and_then(|n| n.parse::<usize>().ok()) {
                    s.insert(i);
                }
            }
        }
        s
    };
    wait_for(
        "every alert delivered",
        Duration::from_secs(200),
        || async { (seen(&mock.log.hits()).len() == ALERTS).then_some(()) },
    )
    .await;
    let hits = mock.log.hits();
    assert!(
        hits.iter().all(|h| h.answer["errcode"] == 0),
        "the robot refused some: {:?}",
        hits.iter().map(|h| &h.answer).collect::<Vec<_>>()
    );
    assert_eq!(
        hits.len(),
        ALERTS.div_ceil(PER_MESSAGE),
        "{PER_MESSAGE} alerts per message"
    );
    for (i, h) in hits.iter().enumerate() {
        let in_minute = hits[i..]
            .iter()
            .take_while(|x| x.at.duration_since(h.at) < Duration::from_secs(60))
            .count();
        assert!(in_minute <= 20, "{in_minute} messages within a minute");
    }
    let counts = d.engine().store().outbox_counts().await.unwrap();
    assert_eq!(
        counts,
        [("dt".to_string(), "sent".to_string(), ALERTS as i64)]
    );
    d.stop().await;
}
