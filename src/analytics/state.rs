//! State that the `genai` and `chat_analytics` processors share: the top users by cost
//! (space-saving summaries, one per day) and the open conversations. Both are bounded.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use foldhash::fast::FixedState;

fn unix_day() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400)
}

/// A space-saving summary (Metwally et al.): at most `capacity` counters; a new key
/// takes over the smallest counter and inherits its count as its error. Every key whose
/// true total exceeds total / capacity is in the summary, and each count overestimates
/// by at most its error.
#[derive(Clone, Debug, Default)]
pub struct SpaceSaving {
    counters: HashMap<String, (f64, f64), FixedState>,
}

impl SpaceSaving {
    /// Adds `amount` to `key`.
    pub fn add(&mut self, key: &str, amount: f64, capacity: usize) {
        if let Some(c) = self.counters.get_mut(key) {
            c.0 += amount;
            return;
        }
        if self.counters.len() < capacity {
            self.counters.insert(key.to_owned(), (amount, 0.0));
            return;
        }
        let Some((min_key, (min, _))) = self
            .counters
            .iter()
            .min_by(|a, b| a.1.0.total_cmp(&b.1.0))
            .map(|(k, v)| (k.clone(), *v))
        else {
            return;
        };
        self.counters.remove(&min_key);
        self.counters.insert(key.to_owned(), (min + amount, min));
    }

    /// The smallest count: what any absent key may have had.
    fn floor(&self, capacity: usize) -> f64 {
        if self.counters.len() < capacity {
            0.0
        } else {
            self.counters
                .values()
                .map(|c| c.0)
                .fold(f64::INFINITY, f64::min)
        }
    }
}

/// Settings of the shared state.
#[derive(Clone, Debug)]
pub struct SharedConfig {
    /// Users reported per window.
    pub top_k: usize,
    /// Counters per daily summary (a multiple of K, for accuracy).
    pub top_capacity: usize,
    /// Open conversations tracked; more are not tracked and are counted.
    pub max_conversations: usize,
    /// A conversation idle this long has ended.
    pub conversation_idle: std::time::Duration,
}

impl Default for SharedConfig {
    fn default() -> SharedConfig {
        SharedConfig {
            top_k: 10,
            top_capacity: 100,
            max_conversations: 10_000,
            conversation_idle: std::time::Duration::from_secs(1800),
        }
    }
}

/// One open conversation.
#[derive(Clone, Debug)]
pub struct Conversation {
    /// When it started and was last active.
    pub started: Instant,
    /// Last activity.
    pub last: Instant,
    /// Messages, from `message_sent` and `message_received` events, or LLM calls when a
    /// conversation has no message events.
    pub messages: u64,
    /// LLM calls.
    pub calls: u64,
    /// Tokens of its LLM calls.
    pub tokens: u64,
    /// Their cost, USD.
    pub cost: f64,
    /// Whether its last LLM call failed.
    pub last_call_failed: bool,
    /// The last product event, for the drop-off point.
    pub last_event: Option<String>,
    /// An answer (`message_received` or a successful call) came after the last user message.
    pub answered: bool,
    /// Closed by an event (`chat_closed`, `conversation_ended`).
    pub closed: bool,
    /// The intent of the last message that had one.
    pub last_intent: Option<String>,
}

/// A conversation that ended, and how.
#[derive(Clone, Debug)]
pub struct Ended {
    /// The conversation.
    pub conversation: Conversation,
    /// `completed`, `abandoned` or `errored`.
    pub outcome: &'static str,
}

impl Conversation {
    fn new(now: Instant) -> Conversation {
        Conversation {
            started: now,
            last: now,
            messages: 0,
            calls: 0,
            tokens: 0,
            cost: 0.0,
            last_call_failed: false,
            last_event: None,
            answered: false,
            closed: false,
            last_intent: None,
        }
    }

    /// The outcome rules: errored when its last LLM call failed; completed when it was
    /// answered after the user's last message; abandoned otherwise (the user left
    /// waiting, or never wrote).
    pub fn outcome(&self) -> &'static str {
        if self.last_call_failed {
            "errored"
        } else if self.answered {
            "completed"
        } else {
            "abandoned"
        }
    }
}

/// The shared state.
#[derive(Debug, Default)]
pub struct Shared {
    /// Settings.
    pub config: Mutex<SharedConfig>,
    /// Whether a `chat_analytics` processor reports this state: without one, feeding it
    /// would only fill it.
    active: std::sync::atomic::AtomicBool,
    top: Mutex<BTreeMap<u64, SpaceSaving>>,
    conversations: Mutex<HashMap<String, Conversation, FixedState>>,
    ended: Mutex<Vec<Ended>>,
}

/// The top-users windows, in days.
pub const TOP_WINDOWS: [(&str, u64); 3] = [("1d", 1), ("7d", 7), ("30d", 30)];

impl Shared {
    /// Marks the state as reported, by a `chat_analytics` processor.
    pub fn activate(&self) {
        self.active
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether a `chat_analytics` processor reports this state.
    pub fn is_active(&self) -> bool {
        self.active.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Adds the cost of one call to a pseudonymous user.
    pub fn add_cost(&self, user: &str, usd: f64) {
        if usd.is_nan() || usd <= 0.0 {
            return;
        }
        let capacity = self
            .config
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .top_capacity;
        let day = unix_day();
        let mut top = self.top.lock().unwrap_or_else(PoisonError::into_inner);
        top.entry(day).or_default().add(user, usd, capacity);
        while top.len() > 30 {
            top.pop_first();
        }
    }

    /// Removes a pseudonymous user from every day's top-user summary; returns how many
    /// day entries held it.
    pub fn forget(&self, user: &str) -> usize {
        let mut top = self.top.lock().unwrap_or_else(PoisonError::into_inner);
        top.values_mut()
            .map(|s| usize::from(s.counters.remove(user).is_some()))
            .sum()
    }

    /// The top K users of each window: (window, user, USD), summing each day's summary;
    /// a user absent from a day's full summary is credited that day's floor, so the
    /// figures never understate.
    pub fn top_users(&self) -> Vec<(&'static str, String, f64)> {
        let (k, capacity) = {
            let c = self.config.lock().unwrap_or_else(PoisonError::into_inner);
            (c.top_k, c.top_capacity)
        };
        let today = unix_day();
        let top = self.top.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = Vec::new();
        for (window, days) in TOP_WINDOWS {
            let in_window: Vec<&SpaceSaving> = top
                .range(today.saturating_sub(days - 1)..=today)
                .map(|(_, s)| s)
                .collect();
            let users: std::collections::HashSet<&str> = in_window
                .iter()
                .flat_map(|s| s.counters.keys().map(String::as_str))
                .collect();
            let totals = users.into_iter().map(|user| {
                let total: f64 = in_window
                    .iter()
                    .map(|s| {
                        s.counters
                            .get(user)
                            .map_or_else(|| s.floor(capacity), |c| c.0)
                    })
                    .sum();
                (user, total)
            });
            let mut ranked: Vec<(&str, f64)> = totals.collect();
            ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
            out.extend(
                ranked
                    .into_iter()
                    .take(k)
                    .map(|(u, c)| (window, u.to_owned(), c)),
            );
        }
        out
    }

    /// Updates the conversation `id` with `f`, opening it if needed. Returns false when
    /// the conversation could not be tracked (the limit).
    pub fn conversation(&self, id: &str, f: impl FnOnce(&mut Conversation)) -> bool {
        let max = self
            .config
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .max_conversations;
        let now = Instant::now();
        let mut all = self
            .conversations
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !all.contains_key(id) && all.len() >= max {
            return false;
        }
        let c = all
            .entry(id.to_owned())
            .or_insert_with(|| Conversation::new(now));
        c.last = now;
        f(c);
        if c.closed {
            let c = all.remove(id).unwrap_or_else(|| Conversation::new(now));
            let outcome = c.outcome();
            drop(all);
            // Bounded too: without a chat_analytics processor nobody takes them.
            let mut ended = self.ended.lock().unwrap_or_else(PoisonError::into_inner);
            if ended.len() < max {
                ended.push(Ended {
                    conversation: c,
                    outcome,
                });
            }
        }
        true
    }

    /// Ends the conversations idle past the timeout, and returns every conversation that
    /// ended since the last call.
    pub fn take_ended(&self) -> Vec<Ended> {
        let idle = self
            .config
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .conversation_idle;
        let mut ended =
            std::mem::take(&mut *self.ended.lock().unwrap_or_else(PoisonError::into_inner));
        let mut all = self
            .conversations
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let expired: Vec<String> = all
            .iter()
            .filter(|(_, c)| c.last.elapsed() >= idle)
            .map(|(k, _)| k.clone())
            .collect();
        for id in expired {
            if let Some(c) = all.remove(&id) {
                let outcome = c.outcome();
                ended.push(Ended {
                    conversation: c,
                    outcome,
                });
            }
        }
        ended
    }

    /// Open conversations.
    pub fn open_conversations(&self) -> usize {
        self.conversations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn space_saving_keeps_every_heavy_user_and_never_understates() {
        let shared = Shared::default();
        shared.config.lock().unwrap().top_capacity = 20;
        shared.config.lock().unwrap().top_k = 3;
        // Three heavy users among 500 light ones.
        for round in 0..10 {
            for u in 0..500 {
                shared.add_cost(&format!("light-{u}"), 0.001);
            }
            shared.add_cost("heavy-a", 1.0 + f64::from(round));
            shared.add_cost("heavy-b", 0.5);
            shared.add_cost("heavy-c", 0.25);
        }
        let top: Vec<(&str, String, f64)> = shared
            .top_users()
            .into_iter()
            .filter(|t| t.0 == "1d")
            .collect();
        let names: Vec<&str> = top.iter().map(|t| t.1.as_str()).collect();
        assert_eq!(names, ["heavy-a", "heavy-b", "heavy-c"], "{top:?}");
        assert!(top[0].2 >= 55.0 && top[0].2 <= 55.0 + 0.5, "{top:?}");
    }

    #[test]
    fn conversations_end_with_an_outcome() {
        let shared = Shared::default();
        shared.config.lock().unwrap().conversation_idle = std::time::Duration::ZERO;
        shared.config.lock().unwrap().max_conversations = 2;
        assert!(shared.conversation("c1", |c| {
            c.messages += 1;
            c.answered = true;
        }));
        assert!(shared.conversation("c2", |c| c.messages += 1));
        assert!(!shared.conversation("c3", |c| c.messages += 1));
        let mut outcomes: Vec<&str> = shared.take_ended().iter().map(|e| e.outcome).collect();
        outcomes.sort_unstable();
        assert_eq!(outcomes, ["abandoned", "completed"]);
        assert_eq!(shared.open_conversations(), 0);
    }
}
