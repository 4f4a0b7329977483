//! Inference off the async runtime, in micro-batches: handlers queue their work; each worker
//! thread takes the next item and, without waiting, every item already queued behind it (up to
//! `max_batch`), and runs them together. Under light load a batch is one request and nothing
//! waits for company; under load one worker wake-up serves many requests. The price and demand
//! models (LEAR: one sparse dot product per horizon) and the classifier's trees gain nothing
//! from fusing inputs into one matrix, so a batch runs its items one after the other.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::sync::{Arc, Mutex};

use crate::error::ApiError;

type Work = Box<dyn FnOnce() + Send>;

/// The queue and its worker threads (they stop when the batcher is dropped).
#[derive(Debug, Clone)]
pub struct Batcher {
    tx: Sender<Work>,
}

impl Batcher {
    /// Starts `workers` threads (at least one, or no work is ever done: `ServeConfig::check`);
    /// `on_batch` is told each batch's size.
    pub fn start(workers: usize, max_batch: usize, on_batch: Arc<dyn Fn(usize) + Send + Sync>) -> Batcher {
        let (tx, rx) = channel::<Work>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..workers {
            let rx = Arc::clone(&rx);
            let on_batch = Arc::clone(&on_batch);
            std::thread::Builder::new()
                .name(format!("hcp-infer-{i}"))
                .spawn(move || worker(&rx, max_batch.max(1), &*on_batch))
                .expect("spawning an inference worker");
        }
        Batcher { tx }
    }

    /// Runs `f` on a worker and waits for its result without blocking the runtime.
    pub async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.tx
            .send(Box::new(move || {
                let _ = tx.send(f());
            }))
            .map_err(|_| ApiError::unavailable("the inference workers have stopped"))?;
        rx.await.map_err(|_| ApiError::internal("inference failed (the worker panicked; see the server log)"))
    }
}

fn worker(rx: &Mutex<Receiver<Work>>, max_batch: usize, on_batch: &(dyn Fn(usize) + Send + Sync)) {
    let mut batch: Vec<Work> = Vec::with_capacity(max_batch);
    loop {
        {
            let Ok(rx) = rx.lock() else { return };
            match rx.recv() {
                Ok(w) => batch.push(w),
                Err(_) => return,
            }
            while batch.len() < max_batch {
                match rx.try_recv() {
                    Ok(w) => batch.push(w),
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                }
            }
        }
        on_batch(batch.len());
        for w in batch.drain(..) {
            if catch_unwind(AssertUnwindSafe(w)).is_err() {
                tracing::error!("an inference item panicked; its request gets a 500");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn queued_work_is_batched_and_a_panic_fails_only_its_request() {
        let largest = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&largest);
        let b = Batcher::start(
            1,
            8,
            Arc::new(move |n| {
                seen.fetch_max(n, Ordering::SeqCst);
            }),
        );
        // Hold the only worker so that the next requests queue up behind it.
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let held = b.clone();
        let gate = tokio::spawn(async move { held.run(move || wait.recv().unwrap()).await });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let queued: Vec<_> = (0..5)
            .map(|i| {
                let b = b.clone();
                tokio::spawn(async move { b.run(move || i * 2).await })
            })
            .collect();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        release.send(()).unwrap();
        gate.await.unwrap().unwrap();
        for (i, q) in queued.into_iter().enumerate() {
            assert_eq!(q.await.unwrap().unwrap(), i * 2);
        }
        assert_eq!(largest.load(Ordering::SeqCst), 5);
        let err = b.run(|| -> u8 { panic!("boom") }).await.unwrap_err();
        assert_eq!(err.status, axum::http::StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(b.run(|| 7).await.unwrap(), 7);
    }
}
