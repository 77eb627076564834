//! The detector's memory and disk budgets: `[detector] max_memory` and `max_disk` as given, or
//! derived from the machine when absent.
//!
//! - `max_memory` defaults to a quarter of the memory the process may use: the cgroup's limit
//!   (`memory.max`, cgroup v2) when there is one, else the machine's (`MemTotal`). The rest is
//!   left to the page cache, librdkafka's queues, the changelog read on assign and the OS.
//! - `max_disk` defaults to half the space free where the store lives, measured at start.
//!
//! The budget is the detector's message state (what `Detector::memory_bytes` counts); the
//! process adds a fixed overhead on top (the binary, threads, librdkafka, redb's page cache):
//! see `docs/spill.md` for the measured figures.

use std::path::Path;

/// A quarter of the memory, when `max_memory` is not set.
const MEMORY_FRACTION: u64 = 4;
/// Half the free disk, when `max_disk` is not set.
const DISK_FRACTION: u64 = 2;
/// The memory budget when the machine's memory cannot be read.
const FALLBACK_MEMORY: u64 = 1 << 30;

/// The budgets the job runs with, and whether each was derived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budgets {
    pub max_memory: u64,
    pub max_disk: u64,
    pub memory_derived: bool,
    pub disk_derived: bool,
}

/// The configured budgets, with the missing ones derived for this machine and `store`.
pub fn resolve(max_memory: Option<u64>, max_disk: Option<u64>, store: &Path) -> Budgets {
    Budgets {
        max_memory: max_memory.unwrap_or_else(|| {
            usable_memory().unwrap_or(FALLBACK_MEMORY * MEMORY_FRACTION) / MEMORY_FRACTION
        }),
        max_disk: max_disk.unwrap_or_else(|| free_disk(store).unwrap_or(0) / DISK_FRACTION),
        memory_derived: max_memory.is_none(),
        disk_derived: max_disk.is_none(),
    }
}

/// The memory this process may use: its cgroup's limit if lower than the machine's.
fn usable_memory() -> Option<u64> {
    let machine = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| mem_total(&text));
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|text| text.trim().parse::<u64>().ok());
    match (machine, cgroup) {
        (Some(m), Some(c)) => Some(m.min(c)),
        (m, c) => m.or(c),
    }
}

/// `MemTotal` of `/proc/meminfo`, in bytes.
fn mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// Bytes free to an unprivileged user on the file system of `path` (or of its nearest
/// existing parent: the store may not exist yet).
fn free_disk(path: &Path) -> Option<u64> {
    let existing = path.ancestors().find(|p| p.exists())?;
    let c_path = std::ffi::CString::new(existing.as_os_str().as_encoded_bytes()).ok()?;
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c_path` is a valid NUL-terminated path and `stat` a writable statvfs.
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), &mut stat) };
    #[allow(clippy::unnecessary_cast)] // the field types differ between targets
    let free = (stat.f_bavail as u64).saturating_mul(stat.f_frsize as u64);
    (rc == 0).then_some(free)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_budgets_are_kept_and_missing_ones_derived() {
        let dir = tempfile::tempdir().expect("tempdir");
        let given = resolve(Some(512 << 20), Some(1 << 30), dir.path());
        assert_eq!((given.max_memory, given.max_disk), (512 << 20, 1 << 30));
        assert!(!given.memory_derived && !given.disk_derived);
        let derived = resolve(None, None, &dir.path().join("not/yet"));
        assert!(derived.memory_derived && derived.disk_derived);
        assert!(derived.max_memory >= 64 << 20, "{}", derived.max_memory);
        assert!(derived.max_disk > 0, "the temp dir has free space");
    }

    #[test]
    fn mem_total_is_read_in_bytes() {
        assert_eq!(
            mem_total("MemFree: 1 kB\nMemTotal:       24576000 kB\n"),
            Some(24_576_000 * 1024)
        );
        assert_eq!(mem_total("nothing"), None);
    }
}
