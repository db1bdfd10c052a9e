//! Group commit. With `synchronous=FULL` every commit costs an fsync, and one fsync per write
//! caps a busy server at the disk's flush rate. A dedicated thread owns the only writing
//! connection; each time it wakes it takes every write queued meanwhile (up to a bound), runs
//! them in one `BEGIN IMMEDIATE` transaction, each inside its own savepoint, and commits once.
//! A write that fails rolls back only its savepoint; nobody is answered before the commit that
//! makes their write durable, so an acknowledgement still means "on disk".

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

use keypaird_inventory::StoreError;
use rusqlite::Connection;
use tokio::sync::oneshot;

use super::failure::{classify, Failure, Outcome};
use crate::GroupCommitObserver;

/// What a write's caller is answered with when it fails. Every operation wants a
/// [`StoreError`]; the readiness probe wants the cause behind SQLite's error code, which a
/// `StoreError` no longer carries, so a failed commit reaches each job as SQLite's own error.
pub(super) trait WriteError: Send + 'static {
    /// The write itself failed (or was refused).
    fn from_failure(failure: Failure) -> Self;
    /// The batch could not start or commit.
    fn from_commit(err: &rusqlite::Error) -> Self;
}

impl WriteError for StoreError {
    fn from_failure(failure: Failure) -> Self {
        failure.into()
    }

    fn from_commit(err: &rusqlite::Error) -> Self {
        classify(err)
    }
}

/// Writes committed together at most. Bounds how long the first write of a batch waits on the
/// others, and the size of the transaction.
const MAX_BATCH: usize = 64;

/// One queued write, type-erased so writes of any result type share the queue.
pub(super) trait WriteJob: Send {
    /// Runs inside the batch's transaction; returns whether the write succeeded.
    fn run(&mut self, conn: &Connection) -> bool;
    /// Answers the caller once the batch's fate is known: `commit` is the commit's outcome,
    /// or the reason the batch never started.
    fn finish(self: Box<Self>, commit: Result<(), &rusqlite::Error>);
}

pub(super) struct Job<T, E, F> {
    op: Option<F>,
    outcome: Option<Outcome<T>>,
    reply: oneshot::Sender<Result<T, E>>,
}

impl<T, E, F> Job<T, E, F>
where
    T: Send + 'static,
    E: WriteError,
    F: FnOnce(&Connection) -> Outcome<T> + Send + 'static,
{
    pub(super) fn queue(op: F) -> (Box<dyn WriteJob>, oneshot::Receiver<Result<T, E>>) {
        let (reply, receiver) = oneshot::channel();
        let job = Job {
            op: Some(op),
            outcome: None,
            reply,
        };
        (Box::new(job), receiver)
    }
}

impl<T, E, F> WriteJob for Job<T, E, F>
where
    T: Send + 'static,
    E: WriteError,
    F: FnOnce(&Connection) -> Outcome<T> + Send + 'static,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let Some(op) = self.op.take() else {
            return false;
        };
        // A panicking write must not take the writer thread (and every later write) with it.
        let outcome = catch_unwind(AssertUnwindSafe(|| op(conn))).unwrap_or_else(|_| {
            Err(Failure::Refused(StoreError::Internal(
                "a store write panicked".into(),
            )))
        });
        let succeeded = outcome.is_ok();
        self.outcome = Some(outcome);
        succeeded
    }

    fn finish(self: Box<Self>, commit: Result<(), &rusqlite::Error>) {
        let result = match (self.outcome, commit) {
            (Some(Err(failure)), _) => Err(E::from_failure(failure)),
            (Some(Ok(value)), Ok(())) => Ok(value),
            (Some(Ok(_)), Err(err)) | (None, Err(err)) => Err(E::from_commit(err)),
            (None, Ok(())) => Err(E::from_failure(Failure::Refused(StoreError::Internal(
                "a store write never ran".into(),
            )))),
        };
        // The caller may have gone away (client disconnected); the write stands regardless.
        let _ = self.reply.send(result);
    }
}

pub(super) type JobSender = Sender<Box<dyn WriteJob>>;

/// What the writer does on its own between group commits (the audit trail's move of recent
/// events): told whether the queue was idle for [`BetweenBatches::idle_after`], or a batch was
/// just committed and answered.
pub(super) struct BetweenBatches {
    pub(super) idle_after: Duration,
    pub(super) run: PauseWork,
}

pub(super) type PauseWork = Box<dyn Fn(&Connection, Pause) + Send>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pause {
    AfterBatch,
    Idle,
}

/// The writer thread's loop; returns when every sender is gone (the store was dropped).
pub(super) fn run(
    conn: Connection,
    jobs: Receiver<Box<dyn WriteJob>>,
    observer: Option<GroupCommitObserver>,
    between: BetweenBatches,
) {
    loop {
        let first = match jobs.recv_timeout(between.idle_after) {
            Ok(job) => job,
            Err(RecvTimeoutError::Timeout) => {
                (between.run)(&conn, Pause::Idle);
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => {
                (between.run)(&conn, Pause::Idle);
                return;
            }
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let commit = run_batch(&conn, &mut batch);
        if let Some(observe) = &observer {
            observe(batch.len());
        }
        for job in batch {
            job.finish(commit.as_ref().copied());
        }
        (between.run)(&conn, Pause::AfterBatch);
    }
}

fn run_batch(conn: &Connection, batch: &mut [Box<dyn WriteJob>]) -> rusqlite::Result<()> {
    // A rollback that failed earlier (say, on an I/O error) can leave a transaction open.
    if !conn.is_autocommit() {
        conn.execute_batch("ROLLBACK")?;
    }
    // Kept prepared, like every statement of the batch: parsing them is a batch's largest CPU
    // cost after the fsync.
    statement(conn, "BEGIN IMMEDIATE")?;
    let outcome = (|| {
        for job in batch.iter_mut() {
            statement(conn, "SAVEPOINT write_job")?;
            if !job.run(conn) {
                statement(conn, "ROLLBACK TO write_job")?;
            }
            statement(conn, "RELEASE write_job")?;
        }
        statement(conn, "COMMIT")
    })();
    if outcome.is_err() && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    outcome
}

fn statement(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}
