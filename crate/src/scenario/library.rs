//! The scenarios in `scenarios/`, embedded at build time (see `build.rs`), so the page and the
//! CLI know every scenario by name with no server and no file access.

use super::{Scenario, ScenarioError};

include!(concat!(env!("OUT_DIR"), "/scenarios.rs"));

/// Every embedded scenario as (file name without `.json`, file text), in name order.
pub fn files() -> &'static [(&'static str, &'static str)] {
    FILES
}

/// Parses every embedded scenario; a broken file is reported, not skipped.
pub fn all() -> Vec<Result<Scenario, (String, ScenarioError)>> {
    FILES.iter().map(|(name, text)| Scenario::from_json(text).map_err(|e| (name.to_string(), e))).collect()
}

/// Every embedded scenario that parses, in teaching order: by `order` (those without one last),
/// then by name.
pub fn in_order() -> Vec<Scenario> {
    let mut list: Vec<Scenario> = all().into_iter().flatten().collect();
    list.sort_by(|a, b| (a.order.unwrap_or(u32::MAX), &a.name).cmp(&(b.order.unwrap_or(u32::MAX), &b.name)));
    list
}

pub fn get(name: &str) -> Result<Scenario, ScenarioError> {
    let (_, text) =
        FILES.iter().find(|(n, _)| *n == name).ok_or_else(|| ScenarioError::UnknownName(name.to_string()))?;
    Scenario::from_json(text)
}
