use super::*;

fn who(user: Option<&str>, session: Option<&str>) -> Who {
    Who {
        user: user.map(str::to_owned),
        session: session.map(str::to_owned),
    }
}

const T: &[u8] = &[7; 16];

fn inheritance() -> Inheritance<u32> {
    Inheritance::new(InheritConfig::default())
}

#[test]
fn a_call_inherits_from_an_ancestor_that_arrived_earlier() {
    let i = inheritance();
    // POST /api/chat (user, session) > step (nothing) > chat.
    i.observe(T, &[1; 8], &[], who(Some("u-1"), Some("s-1")));
    i.observe(T, &[2; 8], &[1; 8], Who::default());
    let s = i.attribute(T, &[2; 8], Who::default(), 7).unwrap();
    assert_eq!(s.who, who(Some("u-1"), Some("s-1")));
    assert_eq!((s.payload, s.outcome), (7, Some(Outcome::Inherited)));
}

#[test]
fn a_call_waits_for_an_ancestor_of_a_later_batch_and_takes_the_nearest() {
    let i = inheritance();
    i.expect(T);
    // The call's own session wins; the user comes from the nearest ancestor with one.
    assert!(i.attribute(T, &[2; 8], who(None, Some("own")), 1).is_none());
    assert_eq!(i.waiting(), 1);
    assert!(i.settle(Instant::now(), false).is_empty());
    i.observe(T, &[2; 8], &[1; 8], who(Some("near"), None));
    i.observe(T, &[1; 8], &[], who(Some("far"), Some("far-s")));
    let settled = i.settle(Instant::now(), false);
    assert_eq!(settled.len(), 1);
    assert_eq!(settled[0].who, who(Some("near"), Some("own")));
    assert_eq!(settled[0].outcome, Some(Outcome::Inherited));
    assert_eq!(i.waiting(), 0);
}

#[test]
fn a_root_without_identity_settles_with_nothing_and_a_missing_one_times_out() {
    let i = inheritance();
    i.expect(T);
    assert!(i.attribute(T, &[2; 8], Who::default(), 1).is_none());
    i.observe(T, &[2; 8], &[], Who::default());
    let s = i.settle(Instant::now(), false);
    assert_eq!(
        (s[0].who.clone(), s[0].outcome),
        (Who::default(), Some(Outcome::Nothing))
    );
    // Another trace whose parent never comes: kept until the deadline, then given up.
    let other: &[u8] = &[8; 16];
    i.expect(other);
    assert!(
        i.attribute(other, &[5; 8], who(Some("u"), None), 2)
            .is_none()
    );
    assert!(i.settle(Instant::now(), false).is_empty());
    let later = Instant::now() + InheritConfig::default().wait;
    let s = i.settle(later, false);
    assert_eq!(s[0].who, who(Some("u"), None));
    assert_eq!((s[0].payload, s[0].outcome), (2, Some(Outcome::Timeout)));
}

#[test]
fn complete_calls_and_roots_do_not_wait() {
    let i = inheritance();
    let s = i
        .attribute(T, &[2; 8], who(Some("u"), Some("s")), 1)
        .unwrap();
    assert_eq!(s.outcome, None);
    let s = i.attribute(T, &[], Who::default(), 1).unwrap();
    assert_eq!(s.outcome, None);
    let s = i.attribute(&[], &[2; 8], Who::default(), 1).unwrap();
    assert_eq!(s.outcome, None);
}

#[test]
fn the_record_and_the_waiting_room_stay_within_their_bounds() {
    let config = InheritConfig {
        wait: Duration::from_secs(60),
        max_entries: 4096,
        max_bytes: 256 << 10,
    };
    let i: Inheritance<u64> = Inheritance::new(config.clone());
    let long = "x".repeat(10_000);
    let mut full = 0;
    for n in 0..50_000u64 {
        let trace = n.to_le_bytes().repeat(2);
        i.observe(
            &trace,
            &(n + 1).to_le_bytes(),
            &[],
            who(Some(&long), Some(&long)),
        );
        i.expect(&trace);
        let s = i.attribute(&trace, &(n + 2).to_le_bytes(), Who::default(), n);
        full += usize::from(s.is_some_and(|s| s.outcome == Some(Outcome::Full)));
    }
    assert!(i.bytes() <= config.max_bytes, "{} bytes", i.bytes());
    assert!(i.waiting() <= config.max_entries / 2);
    assert!(full > 0);
    // Every call is settled at shutdown, none lost.
    let waiting = i.waiting();
    assert_eq!(i.settle(Instant::now(), true).len(), waiting);
    assert_eq!(i.waiting(), 0);
}

#[test]
fn ids_are_cut_on_a_character_boundary() {
    let id = "é".repeat(100);
    let c = cut(&id);
    assert!(c.len() <= IDENTITY_BYTES && id.starts_with(&c));
}
