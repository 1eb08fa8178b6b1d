//! Data points of app metrics: their kinds, values, delta accumulation, and the bounds on
//! buckets and quantiles.

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as Number;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, ExponentialHistogramDataPoint, HistogramDataPoint, Metric,
    NumberDataPoint, SummaryDataPoint,
};

/// Most buckets of one histogram point (classic, or both sides of an exponential one); a
/// point with more is refused. The OTel SDKs default to 160 per side.
pub const MAX_BUCKETS: usize = 512;
/// Most quantiles of one summary point; a point with more is refused.
pub const MAX_QUANTILES: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Counter,
    Gauge,
    Histogram,
    Summary,
}

impl Kind {
    pub(super) fn name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
            Kind::Summary => "summary",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Point {
    Value(f64),
    Histogram {
        /// Upper bounds, ascending, without +Inf.
        bounds: Vec<f64>,
        /// Per-bucket counts, one more than `bounds` (the last is +Inf).
        counts: Vec<u64>,
        sum: f64,
        count: u64,
    },
    Summary {
        quantiles: Vec<(f64, f64)>,
        sum: f64,
        count: u64,
    },
}

impl Point {
    /// Exposition lines the point renders to.
    pub(super) fn lines(&self) -> usize {
        match self {
            Point::Value(_) => 1,
            Point::Histogram { bounds, .. } => bounds.len() + 3,
            Point::Summary { quantiles, .. } => quantiles.len() + 2,
        }
    }

    /// Whether a delta point adds into this one rather than replacing it.
    pub(super) fn same_shape(&self, other: &Point) -> bool {
        match (self, other) {
            (Point::Value(_), Point::Value(_)) => true,
            (Point::Histogram { bounds: a, .. }, Point::Histogram { bounds: b, .. }) => a == b,
            _ => false,
        }
    }
}

/// A metric's points: kind, whether delta, and per point its attributes and value, `None`
/// where the point is over [`MAX_BUCKETS`] or [`MAX_QUANTILES`].
pub(super) type Points<'a> = (Kind, bool, Vec<(&'a [KeyValue], Option<Point>)>);

fn numbers(points: &[NumberDataPoint]) -> Vec<(&[KeyValue], Option<Point>)> {
    points
        .iter()
        .map(|p| {
            (
                &p.attributes[..],
                Some(Point::Value(point_value(p.value.as_ref()))),
            )
        })
        .collect()
}

fn histogram(p: &HistogramDataPoint) -> Option<Point> {
    if p.explicit_bounds.len() >= MAX_BUCKETS || p.bucket_counts.len() > MAX_BUCKETS {
        return None;
    }
    let mut counts = p.bucket_counts.clone();
    counts.resize(p.explicit_bounds.len() + 1, 0);
    Some(Point::Histogram {
        bounds: p.explicit_bounds.clone(),
        counts,
        sum: p.sum.unwrap_or(0.0),
        count: p.count,
    })
}

fn exponential(p: &ExponentialHistogramDataPoint) -> Option<Point> {
    let len = |b: &Option<_>| {
        b.as_ref()
            .map_or(0, |b: &opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets| b.bucket_counts.len())
    };
    if len(&p.positive) + len(&p.negative) >= MAX_BUCKETS {
        return None;
    }
    let (bounds, counts) = exponential_to_classic(p);
    Some(Point::Histogram {
        bounds,
        counts,
        sum: p.sum.unwrap_or(0.0),
        count: p.count,
    })
}

fn summary(p: &SummaryDataPoint) -> Option<Point> {
    (p.quantile_values.len() <= MAX_QUANTILES).then(|| Point::Summary {
        quantiles: p
            .quantile_values
            .iter()
            .map(|q| (q.quantile, q.value))
            .collect(),
        sum: p.sum,
        count: p.count,
    })
}

/// The points of `m`, or `None` for a metric without data.
pub(super) fn of(m: &Metric) -> Option<Points<'_>> {
    let delta = AggregationTemporality::Delta as i32;
    Some(match m.data.as_ref()? {
        Data::Gauge(g) => (Kind::Gauge, false, numbers(&g.data_points)),
        Data::Sum(s) => {
            let kind = if s.is_monotonic {
                Kind::Counter
            } else {
                Kind::Gauge
            };
            let is_delta = s.aggregation_temporality == delta;
            (kind, is_delta, numbers(&s.data_points))
        }
        Data::Histogram(h) => (
            Kind::Histogram,
            h.aggregation_temporality == delta,
            h.data_points
                .iter()
                .map(|p| (&p.attributes[..], histogram(p)))
                .collect(),
        ),
        Data::ExponentialHistogram(h) => (
            Kind::Histogram,
            h.aggregation_temporality == delta,
            h.data_points
                .iter()
                .map(|p| (&p.attributes[..], exponential(p)))
                .collect(),
        ),
        Data::Summary(s) => (
            Kind::Summary,
            false,
            s.data_points
                .iter()
                .map(|p| (&p.attributes[..], summary(p)))
                .collect(),
        ),
    })
}

/// The classic buckets of an exponential histogram data point: the upper bound of
/// positive bucket `i` is base^(offset + i + 1); the zero bucket ends at the zero
/// threshold; negative buckets end at -base^(offset + i).
fn exponential_to_classic(p: &ExponentialHistogramDataPoint) -> (Vec<f64>, Vec<u64>) {
    let base = 2f64.powf(2f64.powi(-p.scale));
    let mut pairs: Vec<(f64, u64)> = Vec::new();
    if let Some(neg) = &p.negative {
        for (i, c) in neg.bucket_counts.iter().enumerate().rev() {
            let index = f64::from(neg.offset) + i as f64;
            pairs.push((-base.powf(index), *c));
        }
    }
    pairs.push((p.zero_threshold.max(0.0), p.zero_count));
    if let Some(pos) = &p.positive {
        for (i, c) in pos.bucket_counts.iter().enumerate() {
            let index = f64::from(pos.offset) + i as f64 + 1.0;
            pairs.push((base.powf(index), *c));
        }
    }
    let bounds: Vec<f64> = pairs.iter().map(|(b, _)| *b).collect();
    let mut counts: Vec<u64> = pairs.iter().map(|(_, c)| *c).collect();
    counts.push(0);
    (bounds, counts)
}

fn point_value(v: Option<&Number>) -> f64 {
    match v {
        Some(Number::AsDouble(d)) => *d,
        Some(Number::AsInt(i)) => *i as f64,
        None => 0.0,
    }
}

/// Adds a delta point to the cumulative one. A histogram whose bounds changed starts over
/// from the delta: its old buckets cannot be mapped onto the new ones.
pub(super) fn accumulate(total: &mut Point, delta: Point) {
    match (total, delta) {
        (Point::Value(t), Point::Value(d)) => *t += d,
        (
            Point::Histogram {
                bounds,
                counts,
                sum,
                count,
            },
            Point::Histogram {
                bounds: db,
                counts: dc,
                sum: ds,
                count: dn,
            },
        ) if *bounds == db => {
            for (c, d) in counts.iter_mut().zip(dc) {
                *c = c.saturating_add(d);
            }
            *sum += ds;
            *count = count.saturating_add(dn);
        }
        (total, delta) => *total = delta,
    }
}
