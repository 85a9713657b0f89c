//! The one way the gateway takes a std mutex.

use std::sync::{Mutex, MutexGuard};

/// The guard, whether or not a thread that panicked while holding the lock
/// poisoned it. Everything behind the gateway's std mutexes (counters, maps,
/// queues of frames) is valid after every single step, so a panic elsewhere
/// must not take the rest of the gateway down with it.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
