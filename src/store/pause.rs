//! Named points inside the store's writes where a test can hold one task
//! while another writes (`store::tests::races`): the race tests of
//! PostgreSQL's concurrency need two transactions interleaved at exactly
//! the step that a missing lock would let through. Outside tests a point
//! is nothing.

/// Where a write can be held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Point {
    /// A lease-fenced write has checked the lease, and writes next.
    LeaseChecked,
    /// A claim has chosen its trial, and starts it next.
    ClaimChosen,
    /// A write has made its changes (and events), and commits next.
    BeforeCommit,
}

#[cfg(test)]
pub(crate) use held::hold_at;

/// Waits here if the current task is held at `point`.
#[cfg(not(test))]
#[inline(always)]
pub(crate) async fn at(_point: Point) {}

#[cfg(test)]
pub(crate) async fn at(point: Point) {
    held::at(point).await
}

#[cfg(test)]
mod held {
    use super::Point;
    use std::future::Future;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use tokio::sync::Barrier;

    /// The point a task is held at, once.
    #[derive(Clone)]
    struct Hold {
        point: Point,
        reached: Arc<Barrier>,
        resume: Arc<Barrier>,
        passed: Arc<AtomicBool>,
    }

    tokio::task_local! {
        static HELD: Hold;
    }

    /// A task held at a point: it has `reached` it, and goes on at `resume`.
    pub(crate) struct Held {
        reached: Arc<Barrier>,
        resume: Arc<Barrier>,
    }

    impl Held {
        /// Waits until the held task reaches its point.
        pub async fn reached(&self) {
            self.reached.wait().await;
        }
        /// Lets it go on.
        pub async fn resume(&self) {
            self.resume.wait().await;
        }
    }

    /// Runs `work` so that it stops the first time it reaches `point`.
    pub(crate) fn hold_at<F: Future>(
        point: Point,
        work: F,
    ) -> (Held, impl Future<Output = F::Output>) {
        let hold = Hold {
            point,
            reached: Arc::new(Barrier::new(2)),
            resume: Arc::new(Barrier::new(2)),
            passed: Arc::default(),
        };
        let held = Held {
            reached: hold.reached.clone(),
            resume: hold.resume.clone(),
        };
        (held, HELD.scope(hold, work))
    }

    pub(super) async fn at(point: Point) {
        let Ok(hold) = HELD.try_with(Hold::clone) else {
            return;
        };
        if hold.point == point && !hold.passed.swap(true, Ordering::SeqCst) {
            hold.reached.wait().await;
            hold.resume.wait().await;
        }
    }
}
