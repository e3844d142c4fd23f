//! The dashboard's two charts, drawn as inline SVG on the server: no script, nothing fetched,
//! and every label escaped by maud like the rest of the page.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use maud::{Markup, html};

use crate::store::DocumentState;

/// Colours of the states drawn, the same as the page's state badges.
fn colour(state: DocumentState) -> &'static str {
    match state {
        DocumentState::Valid => "#2d8a4e",
        DocumentState::Invalid | DocumentState::RejectedLocally | DocumentState::Failed => {
            "#b00020"
        }
        DocumentState::Cancelled => "#c98a00",
        _ => "#5b7db1",
    }
}

const WIDTH: u32 = 640;
const HEIGHT: u32 = 180;

/// One drawn segment of a stacked bar.
struct Segment {
    x: u32,
    y: u32,
    height: u32,
    fill: &'static str,
    title: String,
}

/// Status changes per day by state: one stacked bar per day.
pub(super) fn states_by_day(days: &BTreeMap<NaiveDate, BTreeMap<DocumentState, u64>>) -> Markup {
    let max = days
        .values()
        .map(|by_state| by_state.values().sum::<u64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let count = u32::try_from(days.len().max(1)).unwrap_or(u32::MAX);
    let slot = WIDTH / count;
    let bar = slot.saturating_sub(4).max(2);
    let mut segments = Vec::new();
    let mut labels = Vec::new();
    for (i, (day, by_state)) in days.iter().enumerate() {
        let x = u32::try_from(i).unwrap_or(0) * slot;
        let mut top = HEIGHT;
        for (state, n) in by_state {
            let height = scale(*n, max, HEIGHT);
            top = top.saturating_sub(height);
            segments.push(Segment {
                x,
                y: top,
                height,
                fill: colour(*state),
                title: format!("{day} {}: {n}", state.as_str()),
            });
        }
        labels.push((x, day.format("%d %b").to_string()));
    }
    html! {
        svg.chart role="img" aria-label="Status changes per day, by state"
            width=(WIDTH) height=(HEIGHT + 20) viewBox={ "0 0 " (WIDTH) " " (HEIGHT + 20) } {
            @for s in &segments {
                rect x=(s.x) y=(s.y) width=(bar) height=(s.height) fill=(s.fill) {
                    title { (s.title) }
                }
            }
            @for (x, label) in &labels {
                text x=(x) y=(HEIGHT + 14) font-size="10" { (label) }
            }
        }
    }
}

/// Rate-budget use by endpoint class: granted calls and calls that had to wait.
pub(super) fn budget_by_class(classes: &[(String, u64, u64)]) -> Markup {
    let max = classes
        .iter()
        .map(|(_, granted, waited)| granted + waited)
        .max()
        .unwrap_or(0)
        .max(1);
    let row = 22u32;
    let height = row * u32::try_from(classes.len().max(1)).unwrap_or(1);
    let label = 200u32;
    let span = WIDTH - label - 60;
    html! {
        svg.chart role="img" aria-label="Rate budget use by endpoint"
            width=(WIDTH) height=(height) viewBox={ "0 0 " (WIDTH) " " (height) } {
            @for (i, (class, granted, waited)) in classes.iter().enumerate() {
                @let y = u32::try_from(i).unwrap_or(0) * row;
                @let g = scale(*granted, max, span);
                @let w = scale(*waited, max, span);
                text x="0" y=(y + 15) font-size="12" { (class) }
                rect x=(label) y=(y + 4) width=(g) height="14" fill="#5b7db1" {
                    title { (class) ": " (granted) " granted" }
                }
                rect x=(label + g) y=(y + 4) width=(w) height="14" fill="#c98a00" {
                    title { (class) ": " (waited) " waited" }
                }
                text x=(label + g + w + 4) y=(y + 15) font-size="12" {
                    (granted) " / " (waited)
                }
            }
        }
    }
}

/// `n` of `max` as a length out of `span`, at least 1 for any `n` above 0.
fn scale(n: u64, max: u64, span: u32) -> u32 {
    if n == 0 {
        return 0;
    }
    let scaled = n.saturating_mul(u64::from(span)) / max.max(1);
    u32::try_from(scaled).unwrap_or(span).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_day_and_labels_are_escaped() {
        let mut days = BTreeMap::new();
        let d1 = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        let d2 = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
        days.insert(d1, BTreeMap::from([(DocumentState::Valid, 10)]));
        days.insert(
            d2,
            BTreeMap::from([(DocumentState::Valid, 5), (DocumentState::Invalid, 5)]),
        );
        let svg = states_by_day(&days).into_string();
        assert!(svg.contains("01 Mar") && svg.contains("02 Mar"), "{svg}");
        assert!(
            svg.contains("height=\"180\""),
            "the largest day fills the chart: {svg}"
        );
        let budget = budget_by_class(&[("<submit>".to_owned(), 3, 1)]).into_string();
        assert!(budget.contains("&lt;submit&gt;") && !budget.contains("<submit>"));
        assert_eq!(scale(1, 1_000_000, 100), 1, "a small count still shows");
    }
}
