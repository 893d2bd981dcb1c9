//! The lock around the heap: it knows which thread holds it.

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering::*};

// ANCHOR: lock
/// A lock whose word is the thread that holds it (its `pthread_self()`), or
/// 0 when it is free.
///
/// Taking the lock and recording the owner are one compare-and-swap, so
/// there is no moment at which this thread holds the lock but the lock
/// does not say so: a signal handler that interrupts this thread anywhere
/// inside the allocator, and calls `malloc`, sees its own thread as the
/// owner and takes the emergency path instead of waiting for itself.
///
/// Waiting threads sleep on a futex: `waiters` counts them, and `wake` is
/// a sequence number that each unlock with waiters bumps and wakes.
pub struct OwnerLock {
    owner: AtomicUsize,
    waiters: AtomicU32,
    wake: AtomicU32,
}

/// This thread, as the lock records it. `pthread_self` only reads the
/// thread pointer: no system call, no allocation, safe in a signal handler.
pub fn me() -> usize {
    // SAFETY: pthread_self has no preconditions and never fails.
    unsafe { libc::pthread_self() as usize }
}

impl OwnerLock {
    /// A free lock.
    pub const fn new() -> Self {
        OwnerLock {
            owner: AtomicUsize::new(0),
            waiters: AtomicU32::new(0),
            wake: AtomicU32::new(0),
        }
    }

    /// Takes the lock for thread `me`, waiting if another thread holds it.
    /// Returns false, without waiting, if `me` holds it already: the call
    /// came from inside the allocator, on this same thread.
    pub fn lock(&self, me: usize) -> bool {
        loop {
            match self.owner.compare_exchange(0, me, Acquire, Relaxed) {
                Ok(_) => return true,
                Err(now) if now == me => return false,
                Err(_) => {}
            }
            // Spin a little: the heap is usually held for a short time.
            for _ in 0..64 {
                std::hint::spin_loop();
                if self.owner.load(Relaxed) == 0 {
                    break;
                }
            }
            if self.owner.load(Relaxed) == 0 {
                continue;
            }
            // Sleep until an unlock bumps `wake`. Counting ourselves before
            // reading `wake` and checking the owner again means an unlock
            // that happens in between either sees us waiting (and bumps
            // `wake`, so the futex does not sleep), or happened before our
            // check (and we try again at once).
            self.waiters.fetch_add(1, SeqCst);
            let seen = self.wake.load(SeqCst);
            if self.owner.load(SeqCst) != 0 {
                futex_wait(&self.wake, seen);
            }
            self.waiters.fetch_sub(1, SeqCst);
        }
    }

    /// Gives the lock up; the caller holds it.
    pub fn unlock(&self) {
        self.owner.store(0, SeqCst);
        if self.waiters.load(SeqCst) > 0 {
            self.wake.fetch_add(1, SeqCst);
            futex_wake(&self.wake);
        }
    }

    /// Whether thread `me` holds the lock.
    pub fn held_by(&self, me: usize) -> bool {
        self.owner.load(Relaxed) == me
    }

    /// In the child of a `fork`: only the thread that forked exists, so
    /// nobody waits, and the lock it took before forking is simply free.
    pub fn reset_in_child(&self) {
        self.owner.store(0, Relaxed);
        self.waiters.store(0, Relaxed);
        self.wake.store(0, Relaxed);
    }
}
// ANCHOR_END: lock

impl Default for OwnerLock {
    fn default() -> Self {
        Self::new()
    }
}

fn futex_wait(word: &AtomicU32, seen: u32) {
    // SAFETY: FUTEX_WAIT reads the word (a valid, aligned u32) and sleeps
    // only if it still holds `seen`; spurious wake-ups are harmless here.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            seen,
            std::ptr::null::<libc::timespec>(),
        );
    }
}

fn futex_wake(word: &AtomicU32) {
    // SAFETY: FUTEX_WAKE only wakes threads sleeping on this word.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            1,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn the_owner_is_refused_and_others_wait() {
        let lock = Arc::new(OwnerLock::new());
        assert!(lock.lock(me()));
        assert!(!lock.lock(me()), "the same thread must be refused");
        assert!(lock.held_by(me()));
        let counter = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (lock, counter) = (lock.clone(), counter.clone());
                std::thread::spawn(move || {
                    for _ in 0..if cfg!(miri) { 200 } else { 10_000 } {
                        assert!(lock.lock(me()));
                        // A non-atomic increment under the lock.
                        let n = counter.load(Relaxed);
                        counter.store(n + 1, Relaxed);
                        lock.unlock();
                    }
                })
            })
            .collect();
        lock.unlock();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(counter.load(Relaxed), if cfg!(miri) { 800 } else { 40_000 });
    }
}
