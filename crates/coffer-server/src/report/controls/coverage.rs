//! The control on what the rules select, `rule-coverage` (every configured
//! source is selected by a rule), with the helpers the other controls share
//! (the rules of a source, a rule's longest gap).

use jiff::{SignedDuration, Timestamp};

use crate::config::{Config, RuleConfig};
use crate::report::control::Control;

/// The rules that select `source`.
pub(super) fn rules_of<'c>(config: &'c Config, source: &str) -> Vec<&'c RuleConfig> {
    config
        .rules()
        .filter(|r| r.sources.iter().any(|s| s == source))
        .collect()
}

/// The longest wait between two runs of `rule` over the next 35 days (at
/// most 2000 runs); `None` when it runs fewer than twice in that time.
pub(super) fn longest_gap(rule: &RuleConfig, now: Timestamp) -> Option<SignedDuration> {
    if let Some(i) = rule.schedule.interval() {
        return Some(i);
    }
    let horizon = now + SignedDuration::from_hours(35 * 24);
    let mut prev = rule.schedule.next_after(now, &rule.timezone)?;
    let mut longest: Option<SignedDuration> = None;
    for _ in 0..2000 {
        let Some(next) = rule.schedule.next_after(prev, &rule.timezone) else {
            break;
        };
        let gap = next.duration_since(prev);
        longest = Some(longest.map_or(gap, |l| l.max(gap)));
        if next > horizon {
            break;
        }
        prev = next;
    }
    longest
}

/// `rule-coverage`: every configured source is selected by a rule.
pub(in crate::report) fn rule_coverage(config: &Config) -> Control {
    let mut c = Control::new(
        "rule-coverage",
        "Every configured source is backed up by a rule".into(),
    );
    for s in &config.sources {
        let rules = rules_of(config, &s.name);
        if rules.is_empty() {
            c.fail(format!("source `{}`: no rule selects it", s.name));
        } else {
            let ids: Vec<String> = rules.iter().map(|r| r.id()).collect();
            c.ok(format!(
                "source `{}`: backed up by {}",
                s.name,
                ids.join(", ")
            ));
        }
    }
    c.judged()
}
