//! One bounded family: a series limit with an `other` fold, idle expiry, and the
//! registry's encoding.
//!
//! Recording takes no lock once a thread has seen a series: each thread keeps its own
//! index of the family's series ([`ThreadLocal`]), and a series' metric is atomic. The
//! family's map, behind its mutex, is the one place series are created, folded, expired
//! and read for `/metrics`; a thread goes there only for a series it has not seen, a
//! value past the limit, or after an expiry. Before, every observation locked the map,
//! and the pipeline workers queued on it for the families every span records into.
//!
//! The series themselves are shared, not copied per worker and summed at scrape time:
//! prometheus-client's exemplar histograms can be neither read nor built from parts
//! through its public API, so two workers' copies of one series could not be merged.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use foldhash::fast::RandomState;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Unit;
use thread_local::ThreadLocal;

use super::{MAX_LABELS, OTHER, OverflowCounter};

/// The `touched` of a series that expiry removed: a thread that still has it in its
/// index sees this and goes to the map, where a fresh series is made.
const DEAD: u64 = u64::MAX;

struct Series<M> {
    values: Box<[Box<str>]>,
    metric: M,
    /// When it was last recorded into (the caller's clock, in seconds), or [`DEAD`].
    touched: AtomicU64,
}

impl<M> Series<M> {
    fn is(&self, key: &[&str]) -> bool {
        self.values
            .iter()
            .map(AsRef::as_ref)
            .eq(key.iter().copied())
    }

    /// Marks the series recorded into at `now`; false once expiry has taken it.
    /// Expiry takes a series only by swapping the `touched` it read for [`DEAD`], so a
    /// series touched here is not taken before the caller records into it.
    fn touch(&self, now: u64) -> bool {
        let mut seen = self.touched.load(Ordering::Acquire);
        loop {
            if seen == DEAD {
                return false;
            }
            if seen >= now {
                return true;
            }
            match self
                .touched
                .compare_exchange_weak(seen, now, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return true,
                Err(actual) => seen = actual,
            }
        }
    }
}

/// Series by the hash of their label values.
type Buckets<M> = HashMap<u64, Vec<Arc<Series<M>>>, RandomState>;

fn find<'a, M>(buckets: &'a Buckets<M>, hash: u64, key: &[&str]) -> Option<&'a Arc<Series<M>>> {
    buckets.get(&hash)?.iter().find(|s| s.is(key))
}

/// The family's series, and how many there are.
struct Map<M> {
    buckets: Buckets<M>,
    len: usize,
}

/// One thread's index of the family's series: at most the series the map held, and
/// emptied when the map's generation moves on (an expiry removed series).
struct Index<M> {
    generation: u64,
    buckets: Buckets<M>,
}

/// One bounded family.
pub struct Family<M: Send + Sync> {
    name: &'static str,
    help: &'static str,
    unit: Option<Unit>,
    labels: Vec<String>,
    /// Per label: whether it keeps its value on overflow (closed sets such as `type`).
    keep: Vec<bool>,
    limit: usize,
    make: Box<dyn Fn() -> M + Send + Sync>,
    hasher: RandomState,
    map: Mutex<Map<M>>,
    /// Moved on by every expiry that removed a series.
    generation: AtomicU64,
    indexes: ThreadLocal<RefCell<Index<M>>>,
}

impl<M: EncodeMetric + Send + Sync> Family<M> {
    /// A family named `name` with `labels`, of which those in `keep` never fold.
    pub fn new(
        name: &'static str,
        help: &'static str,
        unit: Option<Unit>,
        labels: Vec<String>,
        keep: &[&str],
        limit: usize,
        make: impl Fn() -> M + Send + Sync + 'static,
    ) -> Family<M> {
        Family {
            name,
            help,
            unit,
            keep: labels.iter().map(|l| keep.contains(&l.as_str())).collect(),
            labels,
            limit: limit.max(1),
            make: Box::new(make),
            hasher: RandomState::default(),
            map: Mutex::new(Map {
                buckets: HashMap::default(),
                len: 0,
            }),
            generation: AtomicU64::new(0),
            indexes: ThreadLocal::new(),
        }
    }

    fn hash(&self, values: &[&str]) -> u64 {
        let mut h = self.hasher.build_hasher();
        for v in values {
            v.hash(&mut h);
        }
        h.finish()
    }

    /// Runs `f` on the series of `values` (one per label, in order, each already passed
    /// through [`super::label_value`]), creating it if the family is under its limit and
    /// folding the open labels into `other` if not.
    pub fn with(&self, values: &[&str], now: u64, overflow: &OverflowCounter, f: impl FnOnce(&M)) {
        debug_assert_eq!(values.len(), self.labels.len());
        debug_assert!(values.iter().all(|v| {
            matches!(super::label_value(v), std::borrow::Cow::Borrowed(b) if b.len() == v.len())
        }));
        let n = values.len().min(MAX_LABELS);
        let mut key: [&str; MAX_LABELS] = [""; MAX_LABELS];
        key[..n].copy_from_slice(&values[..n]);
        let key = &mut key[..n];
        let hash = self.hash(key);
        let generation = self.generation.load(Ordering::Acquire);
        let index = self.indexes.get_or(|| {
            RefCell::new(Index {
                generation,
                buckets: HashMap::default(),
            })
        });
        // `f` never records into its own family; if it did, it would take the map.
        let Ok(mut index) = index.try_borrow_mut() else {
            let (series, _) = self.series(hash, key, now, overflow);
            return f(&series.metric);
        };
        if index.generation != generation {
            index.generation = generation;
            index.buckets.clear();
        }
        if let Some(s) = find(&index.buckets, hash, key)
            && s.touch(now)
        {
            return f(&s.metric);
        }
        let (series, folded) = self.series(hash, key, now, overflow);
        if !folded {
            // Only the series of the map: values folded into `other` are counted each time.
            let bucket = index.buckets.entry(hash).or_default();
            bucket.retain(|s| !s.is(key));
            bucket.push(Arc::clone(&series));
        }
        drop(index);
        f(&series.metric)
    }

    /// The series of `key` from the map, made if the family is under its limit, else
    /// the series with the open labels folded into `other` (and true).
    fn series(
        &self,
        hash: u64,
        key: &mut [&str],
        now: u64,
        overflow: &OverflowCounter,
    ) -> (Arc<Series<M>>, bool) {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        let mut hash = hash;
        let mut found = find(&map.buckets, hash, key).cloned();
        let folded = found.is_none() && map.len >= self.limit;
        if folded {
            overflow.inc(self.name);
            for (v, keep) in key.iter_mut().zip(&self.keep) {
                if !keep {
                    *v = OTHER;
                }
            }
            hash = self.hash(key);
            found = find(&map.buckets, hash, key).cloned();
        }
        let series = match found {
            Some(s) => s,
            None => {
                let s = Arc::new(Series {
                    values: key.iter().map(|v| Box::<str>::from(*v)).collect(),
                    metric: (self.make)(),
                    touched: AtomicU64::new(now),
                });
                map.buckets.entry(hash).or_default().push(Arc::clone(&s));
                map.len += 1;
                s
            }
        };
        // In the map, so never DEAD: expiry removes under this lock.
        series.touched.fetch_max(now, Ordering::AcqRel);
        (series, folded)
    }

    /// Drops series not recorded into since `oldest`.
    pub fn expire(&self, oldest: u64) {
        // Freed after the map is unlocked.
        drop(self.take_expired(oldest));
    }

    /// Removes the series not recorded into since `oldest`, and returns them.
    fn take_expired(&self, oldest: u64) -> Vec<Arc<Series<M>>> {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        let mut removed = Vec::new();
        map.buckets.retain(|_, b| {
            let (kept, gone) = std::mem::take(b).into_iter().partition(|s| {
                let touched = s.touched.load(Ordering::Acquire);
                // Lost to a thread that touched it meanwhile: it stays.
                !(touched < oldest
                    && s.touched
                        .compare_exchange(touched, DEAD, Ordering::AcqRel, Ordering::Acquire)
                        .is_ok())
            });
            *b = kept;
            removed.extend::<Vec<_>>(gone);
            !b.is_empty()
        });
        map.len -= removed.len();
        if !removed.is_empty() {
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
        removed
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(PoisonError::into_inner).len
    }

    /// Whether the family has no series.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes the series into a descriptor already written, for several families that
    /// share one metric name with different label sets.
    pub fn encode_series(
        &self,
        metric: &mut prometheus_client::encoding::MetricEncoder<'_>,
    ) -> Result<(), std::fmt::Error> {
        let map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        let mut series: Vec<&Series<M>> = map.buckets.values().flatten().map(|s| &**s).collect();
        series.sort_by(|a, b| a.values.cmp(&b.values));
        for s in series {
            let labels: Vec<(&str, &str)> = self
                .labels
                .iter()
                .map(String::as_str)
                .zip(s.values.iter().map(AsRef::as_ref))
                .collect();
            s.metric.encode(metric.encode_family(&labels)?)?;
        }
        Ok(())
    }

    /// Writes the family and its series, if it has any.
    pub fn encode(
        &self,
        encoder: &mut DescriptorEncoder<'_>,
        kind: MetricType,
    ) -> Result<(), std::fmt::Error> {
        if self.is_empty() {
            return Ok(());
        }
        let mut metric =
            encoder.encode_descriptor(self.name, self.help, self.unit.as_ref(), kind)?;
        self.encode_series(&mut metric)
    }
}

#[cfg(test)]
mod tests;
