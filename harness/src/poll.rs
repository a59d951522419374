//! The one way the harness waits on real state: poll an async check until
//! it is satisfied or a deadline passes, keeping the last thing seen so a
//! timeout can say what was there instead.

use std::future::Future;
use std::time::{Duration, Instant};

/// What one look at the state found.
pub enum Look<T, L> {
    /// Satisfied, with the value to return.
    Ready(T),
    /// Not yet; `L` is what was seen (for the timeout message).
    NotYet(L),
}

/// A deadline passed; `last` is what the final look saw (None if the
/// deadline passed before the first look completed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimedOut<L> {
    pub after: Duration,
    pub last: Option<L>,
}

/// Poll `look` every `every` until it is ready or `timeout` has passed.
/// Always looks at least once; the sleeps are async, so an enclosing
/// timeout (a step's) can still fire.
pub async fn poll_until<T, L, F, Fut>(
    timeout: Duration,
    every: Duration,
    mut look: F,
) -> Result<T, TimedOut<L>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Look<T, L>>,
{
    let started = Instant::now();
    loop {
        let last = match look().await {
            Look::Ready(v) => return Ok(v),
            Look::NotYet(l) => l,
        };
        if started.elapsed() >= timeout {
            return Err(TimedOut {
                after: timeout,
                last: Some(last),
            });
        }
        tokio::time::sleep(every.min(timeout.saturating_sub(started.elapsed()))).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn ready_values_come_back_and_timeouts_keep_the_last_look() {
        let mut n = 0;
        let r: Result<u32, TimedOut<u32>> = rt().block_on(poll_until(
            Duration::from_secs(5),
            Duration::from_millis(1),
            || {
                n += 1;
                let seen = n;
                async move {
                    if seen == 3 {
                        Look::Ready(seen * 10)
                    } else {
                        Look::NotYet(seen)
                    }
                }
            },
        ));
        assert_eq!(r, Ok(30));
        let r: Result<(), TimedOut<&str>> = rt().block_on(poll_until(
            Duration::from_millis(30),
            Duration::from_millis(5),
            || async { Look::NotYet("still 0") },
        ));
        assert_eq!(r.unwrap_err().last, Some("still 0"));
    }
}
