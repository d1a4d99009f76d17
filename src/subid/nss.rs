//! Subordinate ids served by a directory (SSSD, FreeIPA, LDAP) through NSS and shadow's
//! libsubid, loaded at run time so that userns neither links nor requires it.
//!
//! What shadow 4.13 does (Debian 12, `lib/nss.c` `nss_init`): the first line of
//! /etc/nsswitch.conf that starts with `subid:` (any case) names one source; `files`
//! means /etc/subuid and /etc/subgid; any other NAME makes libsubid dlopen
//! `libsubid_NAME.so` (through the ordinary library search path) and call its
//! `shadow_subid_list_owner_ranges`, `shadow_subid_has_range` and
//! `shadow_subid_find_subid_owners`; shadow 4.17 also wants `shadow_subid_free`. When
//! the module cannot be opened, libsubid says "Using files" and reads the files.
//! newuidmap and newgidmap carry the same code (statically), so they accept what the
//! module serves.
//!
//! libsubid's entry point for a user's ranges is `subid_get_uid_ranges(owner, &ranges)`
//! (4.11 and later, exported by libsubid.so.4) and was `get_subuid_ranges` with the same
//! signature in 4.9/4.10; both are looked up. The array is malloc'd: freed with
//! `subid_free` where libsubid exports it (4.17), else with free(3).

use std::ffi::{c_char, c_int, c_ulong, c_void, CStr, CString};
use std::path::Path;

use crate::ids::IdKind;

/// The NSS configuration file libsubid reads (its path is compiled into shadow).
pub(crate) const NSSWITCH: &str = "/etc/nsswitch.conf";

/// The sonames tried, newest ABI first.
const LIBSUBID: &[&str] = &["libsubid.so.4", "libsubid.so.3", "libsubid.so"];

/// The subid source that `nsswitch.conf` text names, read as shadow 4.13 reads it:
/// None for `files` or no `subid:` line, else the module name.
pub(crate) fn configured_source(text: &str) -> Option<String> {
    for line in text.lines() {
        if line.starts_with('#') || line.len() < 7 {
            continue;
        }
        if !line
            .get(..6)
            .is_some_and(|p| p.eq_ignore_ascii_case("subid:"))
        {
            continue;
        }
        // shadow takes the first token of the first subid: line that has one.
        let Some(token) = line[6..].split([' ', '\t']).find(|t| !t.is_empty()) else {
            continue;
        };
        // shadow refuses names over 50 characters and uses the files.
        if token == "files" || token.len() > 50 {
            return None;
        }
        return Some(token.to_string());
    }
    None
}

/// The subid source of the live system's nsswitch.conf (None: the files).
pub fn configured(nsswitch: &Path) -> Option<String> {
    let text = std::fs::read_to_string(nsswitch).ok()?;
    configured_source(&text)
}

/// `struct subid_range` of <shadow/subid.h>.
#[repr(C)]
struct SubidRange {
    start: c_ulong,
    count: c_ulong,
}

type GetRanges = unsafe extern "C" fn(*const c_char, *mut *mut SubidRange) -> c_int;
type Free = unsafe extern "C" fn(*mut c_void);

/// libsubid, opened with dlopen.
pub(crate) struct LibSubid {
    handle: *mut c_void,
    uid_ranges: GetRanges,
    gid_ranges: GetRanges,
    free: Option<Free>,
}

fn dlerror_text() -> String {
    // SAFETY: dlerror returns NULL or a NUL-terminated string owned by libdl.
    let e = unsafe { libc::dlerror() };
    if e.is_null() {
        "unknown dlopen error".into()
    } else {
        // SAFETY: non-null, NUL-terminated, valid until the next dl* call.
        unsafe { CStr::from_ptr(e) }.to_string_lossy().into_owned()
    }
}

fn dlopen(name: &str) -> Result<*mut c_void, String> {
    let c = CString::new(name).map_err(|_| format!("{name:?} contains NUL"))?;
    // SAFETY: a valid C string; RTLD_LAZY as libsubid itself opens modules.
    let h = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_LAZY | libc::RTLD_LOCAL) };
    if h.is_null() {
        Err(dlerror_text())
    } else {
        Ok(h)
    }
}

fn dlsym(handle: *mut c_void, names: &[&str]) -> Option<*mut c_void> {
    names.iter().find_map(|name| {
        let c = CString::new(*name).ok()?;
        // SAFETY: handle comes from dlopen and is still open; c is a valid C string.
        let p = unsafe { libc::dlsym(handle, c.as_ptr()) };
        (!p.is_null()).then_some(p)
    })
}

impl LibSubid {
    /// Open libsubid; Err says what was tried and why it failed.
    pub(crate) fn load() -> Result<LibSubid, String> {
        let mut errors = Vec::new();
        for &soname in LIBSUBID {
            let handle = match dlopen(soname) {
                Ok(h) => h,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            let uid = dlsym(handle, &["subid_get_uid_ranges", "get_subuid_ranges"]);
            let gid = dlsym(handle, &["subid_get_gid_ranges", "get_subgid_ranges"]);
            let (Some(uid), Some(gid)) = (uid, gid) else {
                errors.push(format!(
                    "{soname} exports neither subid_get_uid_ranges nor get_subuid_ranges"
                ));
                // SAFETY: handle is open and nothing from it is kept.
                unsafe { libc::dlclose(handle) };
                continue;
            };
            let free = dlsym(handle, &["subid_free"]);
            // SAFETY: the symbols have these C signatures in <shadow/subid.h> (4.9-4.17).
            return Ok(unsafe {
                LibSubid {
                    handle,
                    uid_ranges: std::mem::transmute::<*mut c_void, GetRanges>(uid),
                    gid_ranges: std::mem::transmute::<*mut c_void, GetRanges>(gid),
                    free: free.map(|f| std::mem::transmute::<*mut c_void, Free>(f)),
                }
            });
        }
        Err(errors.join("; "))
    }

    /// The ranges libsubid gives `owner` (start, count), in its order.
    // c_ulong is u64 here but u32 on 32-bit targets, where the conversion is needed.
    #[allow(clippy::useless_conversion)]
    pub(crate) fn ranges(&self, kind: IdKind, owner: &str) -> Result<Vec<(u64, u64)>, String> {
        let c = CString::new(owner).map_err(|_| format!("user name {owner:?} contains NUL"))?;
        let get = match kind {
            IdKind::Uid => self.uid_ranges,
            IdKind::Gid => self.gid_ranges,
        };
        let mut ptr: *mut SubidRange = std::ptr::null_mut();
        // SAFETY: c is a valid C string and ptr a valid out-pointer, per subid.h.
        let n = unsafe { get(c.as_ptr(), &mut ptr) };
        let mut out = Vec::new();
        if n > 0 && !ptr.is_null() {
            // SAFETY: libsubid returned n initialised elements at ptr.
            let slice = unsafe { std::slice::from_raw_parts(ptr, n as usize) };
            out.extend(
                slice
                    .iter()
                    .map(|r| (u64::from(r.start), u64::from(r.count))),
            );
        }
        if !ptr.is_null() {
            // SAFETY: the array was malloc'd by libsubid or its module for us to free.
            unsafe {
                match self.free {
                    Some(f) => f(ptr.cast()),
                    None => libc::free(ptr.cast()),
                }
            }
        }
        if n < 0 {
            return Err(format!(
                "libsubid could not list the {} ranges of {owner} (the NSS module reported an error)",
                kind.subid_name()
            ));
        }
        Ok(out)
    }
}

impl Drop for LibSubid {
    fn drop(&mut self) {
        // libsubid registers an atexit handler (nss_exit) that lives in its own code:
        // unloading it would leave that handler dangling. Keep it loaded.
        let _ = self.handle;
    }
}

/// Whether libsubid could open the module `libsubid_NAME.so`. libsubid itself falls
/// back to the files silently when it cannot (a line on stderr), so userns checks first
/// and can say which source answered.
pub(crate) fn module_available(name: &str) -> Result<(), String> {
    let lib = format!("libsubid_{name}.so");
    let h = dlopen(&lib)?;
    let missing: Vec<&str> = [
        "shadow_subid_has_range",
        "shadow_subid_list_owner_ranges",
        "shadow_subid_find_subid_owners",
    ]
    .into_iter()
    .filter(|s| dlsym(h, &[s]).is_none())
    .collect();
    // SAFETY: nothing from the handle is kept.
    unsafe { libc::dlclose(h) };
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("{lib} does not provide {}", missing.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_subid_line_as_shadow_does() {
        assert_eq!(configured_source("passwd: files\n"), None);
        assert_eq!(configured_source("subid: files\n"), None);
        assert_eq!(configured_source("subid:\tsss\n"), Some("sss".into()));
        assert_eq!(configured_source("SUBID: sss files\n"), Some("sss".into()));
        assert_eq!(
            configured_source("# subid: sss\nsubid:  \nsubid: ldap\n"),
            Some("ldap".into())
        );
        assert_eq!(configured_source("subid: files sss\n"), None);
        let long = format!("subid: {}\n", "x".repeat(51));
        assert_eq!(configured_source(&long), None);
    }

    #[test]
    fn a_missing_module_is_reported_by_name() {
        let err = module_available("userns-no-such-module").unwrap_err();
        assert!(err.contains("libsubid_userns-no-such-module.so"), "{err}");
    }

    #[test]
    fn libsubid_loads_here_when_installed() {
        // Debian 12 with libsubid4: the real library and its 4.13 symbol names.
        if !Path::new("/usr/lib/x86_64-linux-gnu/libsubid.so.4").exists() {
            eprintln!("skipped: libsubid.so.4 not installed");
            return;
        }
        LibSubid::load().unwrap();
    }
}
