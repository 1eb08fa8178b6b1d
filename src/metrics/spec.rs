//! A family's fixed description as data, so a set of families reads as a table of
//! names, HELP texts and labels, and is built by one loop-free call per family.

use prometheus_client::encoding::EncodeMetric;
use prometheus_client::registry::Unit;

use super::bounded::Family;

/// What never changes about a family: its name, HELP text, unit and own labels.
pub struct FamilySpec {
    /// The family's name, without unit or `_total` suffix.
    pub name: &'static str,
    /// The HELP text.
    pub help: &'static str,
    /// The unit, if any.
    pub unit: Option<Unit>,
    /// The family's own labels, before any configured dimensions.
    pub labels: &'static [&'static str],
}

/// Builds families that share the labels that never fold and a series limit.
pub struct FamilyMaker<'a> {
    /// Labels that never fold into `other`.
    pub keep: &'a [&'a str],
    /// Series per family.
    pub limit: usize,
}

impl FamilyMaker<'_> {
    /// The family of `spec`, with `dims` appended to its labels, whose series `make` builds.
    pub fn make<M: EncodeMetric + Send + Sync>(
        &self,
        spec: &FamilySpec,
        dims: &[String],
        make: impl Fn() -> M + Send + Sync + 'static,
    ) -> Family<M> {
        let labels = spec
            .labels
            .iter()
            .map(|l| (*l).to_owned())
            .chain(dims.iter().cloned())
            .collect();
        Family::new(
            spec.name,
            spec.help,
            spec.unit.clone(),
            labels,
            self.keep,
            self.limit,
            make,
        )
    }
}
