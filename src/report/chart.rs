//! Charts of a report as PNG images.

/// One rendered chart.
#[derive(Clone, Debug)]
pub struct Chart {
    /// Id, e.g. `cost`.
    pub id: &'static str,
    /// Caption.
    pub title: String,
    /// Alternative text: what the chart shows, in words and numbers.
    pub alt: String,
    /// The PNG.
    pub png: Vec<u8>,
    /// Pixels.
    pub width: u32,
    /// Pixels.
    pub height: u32,
}
