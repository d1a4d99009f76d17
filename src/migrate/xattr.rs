//! The extended attributes that hold ids, and their translation.
//!
//! - POSIX ACLs, `system.posix_acl_access` and `system.posix_acl_default`: a little-endian
//!   header (version 2), then entries of { u16 tag, u16 perm, u32 id }; the id means
//!   something only for ACL_USER (a uid) and ACL_GROUP (a gid) (linux
//!   include/uapi/linux/posix_acl_xattr.h). The kernel shows and takes these ids in the
//!   caller's namespace.
//! - File capabilities, `security.capability`: `magic_etc` then the capability sets;
//!   revision 3 (24 bytes) adds `rootid`, the host uid of the root of the namespace that
//!   set them (include/uapi/linux/capability.h, VFS_CAP_REVISION_3). Revision 2 holds no
//!   id. chown(2) removes the attribute (security_inode_killpriv), so it is read before
//!   the owner changes and written again after.

use super::translate::IdTranslation;

pub const ACL_ACCESS: &str = "system.posix_acl_access";
pub const ACL_DEFAULT: &str = "system.posix_acl_default";
pub const CAPABILITY: &str = "security.capability";

const ACL_VERSION: u32 = 2;
const ACL_USER: u16 = 0x02;
const ACL_GROUP: u16 = 0x08;
const VFS_CAP_REVISION_MASK: u32 = 0xFF00_0000;
const VFS_CAP_REVISION_3: u32 = 0x0300_0000;
const XATTR_CAPS_SZ_3: usize = 24;

/// An attribute that cannot be read as its format says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub String);

/// The ACL with its user and group ids translated; None when nothing changes. Ids the
/// new map cannot hold stay, and are listed in `unholdable` (as (is_gid, id)).
pub fn translate_acl(
    value: &[u8],
    uids: &IdTranslation,
    gids: &IdTranslation,
    unholdable: &mut Vec<(bool, u32)>,
) -> Result<Option<Vec<u8>>, Malformed> {
    if value.len() < 4 || !(value.len() - 4).is_multiple_of(8) {
        return Err(Malformed(format!("an ACL of {} bytes", value.len())));
    }
    let version = u32::from_le_bytes([value[0], value[1], value[2], value[3]]);
    if version != ACL_VERSION {
        return Err(Malformed(format!("ACL version {version}, not 2")));
    }
    let mut out = value.to_vec();
    let mut changed = false;
    for entry in out[4..].chunks_exact_mut(8) {
        let tag = u16::from_le_bytes([entry[0], entry[1]]);
        let translation = match tag {
            ACL_USER => uids,
            ACL_GROUP => gids,
            _ => continue,
        };
        let id = u32::from_le_bytes([entry[4], entry[5], entry[6], entry[7]]);
        match translation.translate(id) {
            super::translate::Move::To(new) => {
                entry[4..8].copy_from_slice(&new.to_le_bytes());
                changed = true;
            }
            super::translate::Move::Unholdable { .. } => unholdable.push((tag == ACL_GROUP, id)),
            super::translate::Move::Keep => {}
        }
    }
    Ok(changed.then_some(out))
}

/// The ids an ACL names (user and group entries), for checks.
pub fn acl_ids(value: &[u8]) -> Vec<(bool, u32)> {
    value
        .get(4..)
        .unwrap_or_default()
        .chunks_exact(8)
        .filter_map(|e| {
            let tag = u16::from_le_bytes([e[0], e[1]]);
            let id = u32::from_le_bytes([e[4], e[5], e[6], e[7]]);
            match tag {
                ACL_USER => Some((false, id)),
                ACL_GROUP => Some((true, id)),
                _ => None,
            }
        })
        .collect()
}

/// The capability attribute's root id, when it is revision 3.
pub fn cap_rootid(value: &[u8]) -> Option<u32> {
    if value.len() != XATTR_CAPS_SZ_3 {
        return None;
    }
    let magic = u32::from_le_bytes([value[0], value[1], value[2], value[3]]);
    (magic & VFS_CAP_REVISION_MASK == VFS_CAP_REVISION_3)
        .then(|| u32::from_le_bytes([value[20], value[21], value[22], value[23]]))
}

/// The capability attribute with its root id translated (revision 3 only).
pub fn translate_caps(value: &[u8], uids: &IdTranslation) -> Option<Vec<u8>> {
    let root = cap_rootid(value)?;
    match uids.translate(root) {
        super::translate::Move::To(new) => {
            let mut out = value.to_vec();
            out[20..24].copy_from_slice(&new.to_le_bytes());
            Some(out)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idmap::IdMap;
    use crate::ids::IdKind;

    fn tr(kind: IdKind) -> IdTranslation {
        let map = |o| {
            IdMap::new(
                kind,
                vec![
                    crate::idmap::IdMapEntry::new(0, 2000, 1),
                    crate::idmap::IdMapEntry::new(1, o, 100),
                ],
            )
        };
        IdTranslation {
            kind,
            old: map(200000),
            new: map(300000),
        }
    }

    fn acl(entries: &[(u16, u16, u32)]) -> Vec<u8> {
        let mut v = 2u32.to_le_bytes().to_vec();
        for (tag, perm, id) in entries {
            v.extend_from_slice(&tag.to_le_bytes());
            v.extend_from_slice(&perm.to_le_bytes());
            v.extend_from_slice(&id.to_le_bytes());
        }
        v
    }

    #[test]
    fn acl_user_and_group_entries_move() {
        let undefined = u32::MAX;
        let before = acl(&[
            (0x01, 6, undefined),
            (ACL_USER, 4, 200010),
            (ACL_USER, 4, 2000),
            (0x04, 4, undefined),
            (ACL_GROUP, 5, 200020),
            (ACL_GROUP, 5, 200500),
            (0x10, 7, undefined),
            (0x20, 0, undefined),
        ]);
        let mut lost = Vec::new();
        let after = translate_acl(&before, &tr(IdKind::Uid), &tr(IdKind::Gid), &mut lost)
            .unwrap()
            .unwrap();
        assert_eq!(
            after,
            acl(&[
                (0x01, 6, undefined),
                (ACL_USER, 4, 300010),
                (ACL_USER, 4, 2000),
                (0x04, 4, undefined),
                (ACL_GROUP, 5, 300020),
                (ACL_GROUP, 5, 200500),
                (0x10, 7, undefined),
                (0x20, 0, undefined),
            ])
        );
        // 200500 is not in the old map (100 ids): kept, not unholdable.
        assert!(lost.is_empty());
        assert_eq!(
            acl_ids(&after),
            [
                (false, 300010),
                (false, 2000),
                (true, 300020),
                (true, 200500)
            ]
        );
        // Nothing to move: None. Malformed: an error.
        let plain = acl(&[(0x01, 6, undefined), (ACL_USER, 4, 2000)]);
        assert_eq!(
            translate_acl(&plain, &tr(IdKind::Uid), &tr(IdKind::Gid), &mut lost),
            Ok(None)
        );
        assert!(translate_acl(
            &[2, 0, 0, 0, 1],
            &tr(IdKind::Uid),
            &tr(IdKind::Gid),
            &mut lost
        )
        .is_err());
    }

    #[test]
    fn v3_caps_move_their_root_id_and_v2_have_none() {
        let mut v3 = (0x0300_0000u32 | 1).to_le_bytes().to_vec();
        v3.extend_from_slice(&[0x00, 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        v3.extend_from_slice(&200000u32.to_le_bytes());
        assert_eq!(cap_rootid(&v3), Some(200000));
        let moved = translate_caps(&v3, &tr(IdKind::Uid)).unwrap();
        assert_eq!(cap_rootid(&moved), Some(300000));
        assert_eq!(&moved[..20], &v3[..20]);
        let mut v2 = (0x0200_0000u32 | 1).to_le_bytes().to_vec();
        v2.extend_from_slice(&[0; 16]);
        assert_eq!(cap_rootid(&v2), None);
        assert_eq!(translate_caps(&v2, &tr(IdKind::Uid)), None);
        // The user's own id as root id (setcap in a rootless namespace) stays.
        let mut own = v3.clone();
        own[20..24].copy_from_slice(&2000u32.to_le_bytes());
        assert_eq!(translate_caps(&own, &tr(IdKind::Uid)), None);
    }
}
