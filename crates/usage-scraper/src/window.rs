//! Window planning without IO: which `[start, end)` range a poll cycle reads, split into
//! sub-windows of at most `max_window`, each committed with its cursor in one transaction.

/// The range one cycle reads, or `None` when there is nothing to read yet.
///
/// `start = cursor - lookback` (first run: `now - initial_backfill`), `end = now - settle`.
pub fn cycle_range(
    cursor_ns: Option<i64>,
    now_ns: i64,
    lookback_ns: i64,
    settle_ns: i64,
    initial_backfill_ns: i64,
) -> Option<(i64, i64)> {
    let end = now_ns.saturating_sub(settle_ns);
    let start = match cursor_ns {
        Some(c) => c.saturating_sub(lookback_ns),
        None => now_ns.saturating_sub(initial_backfill_ns),
    };
    (start < end).then_some((start, end))
}

/// Splits `[start, end)` into consecutive sub-windows of at most `max_ns`.
pub fn split(start: i64, end: i64, max_ns: i64) -> impl Iterator<Item = (i64, i64)> {
    let max_ns = max_ns.max(1);
    let mut s = start;
    std::iter::from_fn(move || {
        if s >= end {
            return None;
        }
        let e = s.saturating_add(max_ns).min(end);
        let w = (s, e);
        s = e;
        Some(w)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_run_backfills_later_runs_look_back() {
        assert_eq!(cycle_range(None, 10_000, 120, 5, 3600), Some((6400, 9995)));
        assert_eq!(
            cycle_range(Some(9000), 10_000, 120, 5, 3600),
            Some((8880, 9995))
        );
        // The cursor can be ahead of now - settle - lookback only by clock skew: nothing to do.
        assert_eq!(cycle_range(Some(20_000), 10_000, 120, 5, 3600), None);
    }

    #[test]
    fn split_covers_exactly() {
        let w: Vec<_> = split(0, 25, 10).collect();
        assert_eq!(w, vec![(0, 10), (10, 20), (20, 25)]);
        assert_eq!(split(5, 5, 10).count(), 0);
        let w: Vec<_> = split(0, 20, 10).collect();
        assert_eq!(w, vec![(0, 10), (10, 20)]);
    }
}
