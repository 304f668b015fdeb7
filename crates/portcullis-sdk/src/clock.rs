//! The SDK's one reading of the wall clock.

/// The wall clock in Unix seconds.
#[allow(clippy::disallowed_methods)] // the SDK's one reading of the wall clock
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX)
        })
}
