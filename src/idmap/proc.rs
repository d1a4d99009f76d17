//! Read /proc/PID/uid_map and gid_map (placeholder: being written).
