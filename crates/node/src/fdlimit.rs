//! Open files: a node raises its soft open-file limit to the hard limit when it starts (many
//! systems start processes at 1,024), and keeps the API's connections to at most half of what
//! it then has, so that a flood of connections never leaves consensus storage or peers without
//! a file descriptor.

/// Raises the soft open-file limit to the hard one; returns the soft limit now in force
/// (`None` where unknown).
pub fn raise_open_file_limit() -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{getrlimit, setrlimit, Resource};
        let mut limit = getrlimit(Resource::Nofile);
        if limit.current < limit.maximum {
            let wanted = limit.maximum;
            limit.current = wanted;
            if setrlimit(Resource::Nofile, limit).is_err() {
                return getrlimit(Resource::Nofile).current;
            }
        }
        limit.current
    }
    #[cfg(not(target_os = "linux"))]
    None
}

/// The most API connections a process with `open_files` descriptors allows: half of them.
pub fn api_connection_budget(open_files: u64) -> usize {
    usize::try_from(open_files / 2).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_is_at_least_what_it_was_and_half_goes_to_the_api() {
        if let Some(limit) = raise_open_file_limit() {
            assert!(limit >= 64, "{limit}");
            assert!(raise_open_file_limit() >= Some(limit));
        }
        assert_eq!(api_connection_budget(1_024), 512);
        assert_eq!(api_connection_budget(0), 0);
    }
}
