//! `[prices]`: what a GB-month costs in each storage class, for the
//! monthly cost estimate of `coffer vault usage` (see `crate::usage`).
//!
//! The defaults are AWS S3's public list prices in us-east-1 (the first
//! 50 TB of S3 Standard), as published on aws.amazon.com/s3/pricing and
//! taken in [`PRICES_TAKEN`]; each entry can be overridden, and the
//! estimate says which were. A GB is 2^30 bytes, as AWS bills it. The
//! keys are the classes as S3 names them (an unknown one is an error with
//! a did-you-mean), plus `local` for a local directory (0 by default: its
//! disk is paid for elsewhere).

use super::validate::{Validator, S};
use serde::Deserialize;

/// When the default prices were taken from aws.amazon.com/s3/pricing.
pub const PRICES_TAKEN: &str = "2026-12";

/// Where the default prices come from, for the estimate's footnote.
pub const PRICES_SOURCE: &str =
    "AWS S3 us-east-1 list prices as published on aws.amazon.com/s3/pricing";

/// The classes `[prices]` knows, as S3 names them, with their default USD
/// per GB-month (`None`: no list price, so unpriced unless configured).
/// INTELLIGENT_TIERING is priced as its frequent access tier, the one an
/// object starts in; REDUCED_REDUNDANCY is no longer on the price page.
pub const DEFAULT_PRICES: &[(&str, Option<f64>)] = &[
    ("STANDARD", Some(0.023)),
    ("INTELLIGENT_TIERING", Some(0.023)),
    ("STANDARD_IA", Some(0.0125)),
    ("ONEZONE_IA", Some(0.01)),
    ("GLACIER_IR", Some(0.004)),
    ("GLACIER", Some(0.0036)),
    ("DEEP_ARCHIVE", Some(0.00099)),
    ("REDUCED_REDUNDANCY", None),
    ("local", Some(0.0)),
];

/// `[prices]`, checked: USD per GB-month by storage class.
#[derive(Debug, Clone, PartialEq)]
pub struct PriceTable {
    /// Every class of [`DEFAULT_PRICES`] with its price (`None`: unpriced).
    pub per_gb_month: Vec<(String, Option<f64>)>,
    /// The classes whose price the configuration set, in the table's order.
    pub overridden: Vec<String>,
}

impl Default for PriceTable {
    fn default() -> Self {
        PriceTable {
            per_gb_month: DEFAULT_PRICES
                .iter()
                .map(|(c, p)| (c.to_string(), *p))
                .collect(),
            overridden: Vec::new(),
        }
    }
}

impl PriceTable {
    /// USD per GB-month of `class` (S3's name, compared without case),
    /// `None` when the table has no price for it.
    pub fn price(&self, class: &str) -> Option<f64> {
        self.per_gb_month
            .iter()
            .find(|(c, _)| c.eq_ignore_ascii_case(class))
            .and_then(|(_, p)| *p)
    }
}

/// `[prices]` as written: one optional entry per class.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPrices {
    #[serde(rename = "STANDARD")]
    standard: Option<S<f64>>,
    #[serde(rename = "INTELLIGENT_TIERING")]
    intelligent_tiering: Option<S<f64>>,
    #[serde(rename = "STANDARD_IA")]
    standard_ia: Option<S<f64>>,
    #[serde(rename = "ONEZONE_IA")]
    onezone_ia: Option<S<f64>>,
    #[serde(rename = "GLACIER_IR")]
    glacier_ir: Option<S<f64>>,
    #[serde(rename = "GLACIER")]
    glacier: Option<S<f64>>,
    #[serde(rename = "DEEP_ARCHIVE")]
    deep_archive: Option<S<f64>>,
    #[serde(rename = "REDUCED_REDUNDANCY")]
    reduced_redundancy: Option<S<f64>>,
    local: Option<S<f64>>,
}

impl RawPrices {
    /// The entries as written, by class name.
    fn entries(&self) -> [(&'static str, &Option<S<f64>>); 9] {
        [
            ("STANDARD", &self.standard),
            ("INTELLIGENT_TIERING", &self.intelligent_tiering),
            ("STANDARD_IA", &self.standard_ia),
            ("ONEZONE_IA", &self.onezone_ia),
            ("GLACIER_IR", &self.glacier_ir),
            ("GLACIER", &self.glacier),
            ("DEEP_ARCHIVE", &self.deep_archive),
            ("REDUCED_REDUNDANCY", &self.reduced_redundancy),
            ("local", &self.local),
        ]
    }
}

impl Validator<'_> {
    pub(super) fn prices(&mut self, raw: Option<&RawPrices>) -> PriceTable {
        let mut t = PriceTable::default();
        let Some(raw) = raw else { return t };
        for (class, v) in raw.entries() {
            let Some(v) = v else { continue };
            let p = *v.get_ref();
            if !p.is_finite() || p < 0.0 {
                self.at(
                    v,
                    format!(
                        "[prices] {class} = {p}: a price is USD per GB-month, 0 or more (e.g. {class} = {})",
                        DEFAULT_PRICES
                            .iter()
                            .find(|(c, _)| *c == class)
                            .and_then(|(_, d)| *d)
                            .unwrap_or(0.02)
                    ),
                );
                continue;
            }
            if let Some(e) = t.per_gb_month.iter_mut().find(|(c, _)| c == class) {
                e.1 = Some(p);
            }
            t.overridden.push(class.to_string());
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use std::path::Path;

    fn prices(text: &str) -> Result<super::PriceTable, Vec<String>> {
        Config::parse(text, Path::new("t.toml"))
            .map(|c| c.prices)
            .map_err(|e| e.0.iter().map(|e| e.to_string()).collect())
    }

    #[test]
    fn defaults_are_the_s3_list_prices_and_an_entry_overrides_one() {
        let d = prices("").unwrap();
        assert_eq!(d.price("STANDARD"), Some(0.023));
        assert_eq!(d.price("glacier"), Some(0.0036));
        assert_eq!(d.price("DEEP_ARCHIVE"), Some(0.00099));
        assert_eq!(d.price("local"), Some(0.0));
        assert_eq!(d.price("REDUCED_REDUNDANCY"), None);
        assert_eq!(d.price("EXPRESS_ONEZONE"), None);
        assert!(d.overridden.is_empty());
        let t = prices("[prices]\nGLACIER = 0.004\nlocal = 0.01\nSTANDARD = 0\n").unwrap();
        assert_eq!(t.price("GLACIER"), Some(0.004));
        assert_eq!(t.price("local"), Some(0.01));
        assert_eq!(t.price("STANDARD"), Some(0.0));
        assert_eq!(t.price("STANDARD_IA"), Some(0.0125));
        assert_eq!(t.overridden, ["STANDARD", "GLACIER", "local"]);
    }

    #[test]
    fn an_unknown_class_is_an_error_at_its_place_with_a_did_you_mean() {
        let e = prices("[prices]\nSTANDARD = 0.02\nGLACEIR = 0.01\n").unwrap_err();
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with("t.toml:3:1: unknown field `GLACEIR`; did you mean `GLACIER`?"),
            "{e:?}"
        );
        assert!(e[0].contains("`DEEP_ARCHIVE`"), "{e:?}");
    }

    #[test]
    fn a_negative_or_non_number_price_is_an_error_at_its_place() {
        let e = prices("[prices]\nSTANDARD_IA = -0.5\n").unwrap_err();
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with(
                "t.toml:2:15: [prices] STANDARD_IA = -0.5: a price is USD per GB-month, 0 or more"
            ),
            "{e:?}"
        );
        let e = prices("[prices]\nSTANDARD = \"cheap\"\n").unwrap_err();
        assert!(e[0].starts_with("t.toml:2:12:"), "{e:?}");
    }
}
