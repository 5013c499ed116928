//! The controls on what the rules select and how often they run:
//! `rule-coverage` (every configured source is selected by a rule) and
//! `backup-frequency` (every rule runs at least every
//! `[compliance] min_backup_frequency`), with the helpers the other
//! controls share (the rules of a source, a rule's longest gap).

use jiff::{SignedDuration, Timestamp};

use crate::config::{Config, RuleConfig};
use crate::report::control::Control;
use crate::report::duration::human;

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

/// `backup-frequency`: every rule runs at least every
/// `[compliance] min_backup_frequency`, judged by its longest gap.
pub(in crate::report) fn backup_frequency(config: &Config, now: Timestamp) -> Control {
    let cc = &config.compliance;
    let mut c = Control::new(
        "backup-frequency",
        format!(
            "Every rule backs up at least every {}",
            human(cc.min_backup_frequency)
        ),
    );
    for r in config.rules() {
        match longest_gap(r, now) {
            Some(g) if g <= cc.min_backup_frequency => c.ok(format!(
                "rule {}: schedule `{}` ({}) runs at least every {}",
                r.id(),
                r.schedule,
                r.timezone_name,
                human(g)
            )),
            Some(g) => c.fail(format!(
                "rule {}: schedule `{}` ({}) leaves up to {} between backups",
                r.id(),
                r.schedule,
                r.timezone_name,
                human(g)
            )),
            None => c.fail(format!(
                "rule {}: schedule `{}` runs fewer than twice in the next 35 days",
                r.id(),
                r.schedule
            )),
        }
    }
    c.judged()
}
