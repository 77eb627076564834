//! The shell's clock. The core never reads time; the shell passes this in.

use cairn_core::model::Millis;

/// Wall-clock milliseconds since the Unix epoch (the unit of trace timestamps).
pub fn now_millis() -> Millis {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Millis::try_from(since_epoch.as_millis()).unwrap_or(Millis::MAX)
}
