//! The process's open-file limit, raised where a command needs more sockets than the soft limit
//! allows: a simulated site's listening miners, the daemon's miner connections in flight.

/// The soft and hard open-file limits (`None`: unlimited).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub soft: Option<u64>,
    pub hard: Option<u64>,
}

/// This process's open-file limits; both unlimited where the system has none to read.
pub fn limits() -> Limits {
    #[cfg(unix)]
    {
        let now = rustix::process::getrlimit(rustix::process::Resource::Nofile);
        Limits { soft: now.current, hard: now.maximum }
    }
    #[cfg(not(unix))]
    {
        Limits { soft: None, hard: None }
    }
}

/// Raises this process's soft open-file limit to `needed` when it is lower and the hard limit
/// allows; returns the limit before and after when it changed it. A limit it cannot raise far
/// enough is left as it is: the caller says what that means for it.
pub fn raise_to(needed: u64) -> Option<(u64, u64)> {
    let now = limits();
    let soft = now.soft?;
    if soft >= needed || now.hard.is_some_and(|hard| hard < needed) {
        return None;
    }
    #[cfg(unix)]
    {
        use rustix::process::{Resource, Rlimit, setrlimit};
        setrlimit(Resource::Nofile, Rlimit { current: Some(needed), maximum: now.hard }).ok()?;
        Some((soft, needed))
    }
    #[cfg(not(unix))]
    {
        None
    }
}
