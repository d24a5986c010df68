//! The persistent file system (`docs/card-os.md`, "Files"): the MF holding DFs, each DF holding
//! transparent working EFs and two credential slots.
//!
//! This module is a data model with lookups and invariants; command semantics (current file,
//! access checks, status words) live in `card`.

use serde::{Deserialize, Serialize};

use crate::credential::{Credential, CredentialRef};

/// FID of the MF.
pub(crate) const MF_FID: u16 = 0x3F00;
/// Total capacity for EF content, in bytes (32 KiB).
pub(crate) const CAPACITY: usize = 32 * 1024;
/// Largest EF size.
pub(crate) const MAX_EF_SIZE: usize = 32_767;
/// Most files (DFs plus EFs, the MF not counted): file headers take room too.
pub(crate) const MAX_FILES: usize = 256;
/// Longest DF name (AID).
pub(crate) const MAX_DF_NAME: usize = 16;

/// Whether a FID may name a created file (`3F00`, `3FFF`, `FFFF` are reserved).
pub(crate) fn is_reserved_fid(fid: u16) -> bool {
    matches!(fid, 0x3F00 | 0x3FFF | 0xFFFF)
}

/// Life-cycle status (ISO/IEC 7816-4 §7.4.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum LifeCycle {
    /// `01`: creation state (personalization window).
    Creation,
    /// `05`: operational state, activated.
    Activated,
}

impl LifeCycle {
    /// The life-cycle status byte (tag `8A`).
    pub(crate) fn byte(self) -> u8 {
        match self {
            LifeCycle::Creation => 0x01,
            LifeCycle::Activated => 0x05,
        }
    }
}

/// A security condition byte of the compact format (ISO/IEC 7816-4 §7.4.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum SecurityCondition {
    /// `00`: always.
    Always,
    /// `10`: user authentication (holder PIN `81` verified in this session).
    UserAuth,
    /// `FF`: never.
    Never,
}

impl SecurityCondition {
    /// Decodes an SC byte; only the three this OS uses are accepted.
    pub(crate) fn from_byte(byte: u8) -> Option<SecurityCondition> {
        match byte {
            0x00 => Some(SecurityCondition::Always),
            0x10 => Some(SecurityCondition::UserAuth),
            0xFF => Some(SecurityCondition::Never),
            _ => None,
        }
    }

    /// The SC byte.
    pub(crate) fn byte(self) -> u8 {
        match self {
            SecurityCondition::Always => 0x00,
            SecurityCondition::UserAuth => 0x10,
            SecurityCondition::Never => 0xFF,
        }
    }
}

/// Compact security attributes of an EF: conditions for UPDATE BINARY and READ BINARY.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AccessRule {
    /// Condition for UPDATE BINARY (access-mode bit b2).
    pub(crate) update: SecurityCondition,
    /// Condition for READ BINARY (access-mode bit b1).
    pub(crate) read: SecurityCondition,
}

/// A transparent working EF.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Ef {
    pub(crate) fid: u16,
    pub(crate) life_cycle: LifeCycle,
    /// `None` when the FCP carried no `8C`: no condition (always).
    pub(crate) access: Option<AccessRule>,
    /// The content; its length is the fixed file size.
    #[serde(with = "hex_bytes")]
    pub(crate) content: Vec<u8>,
}

/// A DF under the MF.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Df {
    pub(crate) fid: u16,
    #[serde(with = "hex_bytes")]
    pub(crate) name: Vec<u8>,
    pub(crate) life_cycle: LifeCycle,
    pub(crate) efs: Vec<Ef>,
    pub(crate) holder_pin: Option<Credential>,
    pub(crate) reset_code: Option<Credential>,
}

impl Df {
    /// A new DF in creation state, without EFs or credentials.
    pub(crate) fn new(fid: u16, name: Vec<u8>) -> Df {
        Df {
            fid,
            name,
            life_cycle: LifeCycle::Creation,
            efs: Vec::new(),
            holder_pin: None,
            reset_code: None,
        }
    }

    /// The EF with that FID.
    pub(crate) fn ef(&self, fid: u16) -> Option<&Ef> {
        self.efs.iter().find(|ef| ef.fid == fid)
    }

    /// The EF with that FID, mutable.
    pub(crate) fn ef_mut(&mut self, fid: u16) -> Option<&mut Ef> {
        self.efs.iter_mut().find(|ef| ef.fid == fid)
    }

    /// A credential slot.
    pub(crate) fn credential(&self, reference: CredentialRef) -> Option<&Credential> {
        match reference {
            CredentialRef::HolderPin => self.holder_pin.as_ref(),
            CredentialRef::ResetCode => self.reset_code.as_ref(),
        }
    }

    /// Whether the DF may be activated: both credentials set and every EF activated
    /// (docs/card-os.md, ACTIVATE FILE).
    pub(crate) fn is_complete(&self) -> bool {
        self.holder_pin.is_some()
            && self.reset_code.is_some()
            && self
                .efs
                .iter()
                .all(|ef| ef.life_cycle == LifeCycle::Activated)
    }

    /// A credential slot, mutable.
    pub(crate) fn credential_slot(&mut self, reference: CredentialRef) -> &mut Option<Credential> {
        match reference {
            CredentialRef::HolderPin => &mut self.holder_pin,
            CredentialRef::ResetCode => &mut self.reset_code,
        }
    }
}

/// The whole persistent file system below the MF.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct FileSystem {
    pub(crate) dfs: Vec<Df>,
}

impl FileSystem {
    /// The DF with that FID.
    pub(crate) fn df(&self, fid: u16) -> Option<&Df> {
        self.dfs.iter().find(|df| df.fid == fid)
    }

    /// The DF with that FID, mutable.
    pub(crate) fn df_mut(&mut self, fid: u16) -> Option<&mut Df> {
        self.dfs.iter_mut().find(|df| df.fid == fid)
    }

    /// The DF with that DF name (exact match).
    pub(crate) fn df_by_name(&self, name: &[u8]) -> Option<&Df> {
        self.dfs.iter().find(|df| df.name == name)
    }

    /// Bytes of EF content in use.
    pub(crate) fn used_bytes(&self) -> usize {
        self.dfs
            .iter()
            .flat_map(|df| &df.efs)
            .map(|ef| ef.content.len())
            .sum()
    }

    /// Number of files (DFs and EFs) below the MF.
    pub(crate) fn file_count(&self) -> usize {
        self.dfs.len() + self.dfs.iter().map(|df| df.efs.len()).sum::<usize>()
    }

    /// Checks every invariant a card could have produced; the error says which one broke.
    pub(crate) fn check_invariants(&self) -> Result<(), String> {
        if self.used_bytes() > CAPACITY {
            return Err(format!("EF content exceeds the {CAPACITY}-byte capacity"));
        }
        if self.file_count() > MAX_FILES {
            return Err(format!("more than {MAX_FILES} files"));
        }
        for (i, df) in self.dfs.iter().enumerate() {
            if is_reserved_fid(df.fid) {
                return Err(format!("DF uses the reserved FID {:04X}", df.fid));
            }
            if df.name.is_empty() || df.name.len() > MAX_DF_NAME {
                return Err(format!("DF {:04X} has a DF name of bad length", df.fid));
            }
            if self.dfs[..i]
                .iter()
                .any(|other| other.fid == df.fid || other.name == df.name)
            {
                return Err(format!("DF {:04X} duplicates a FID or DF name", df.fid));
            }
            for reference in [CredentialRef::HolderPin, CredentialRef::ResetCode] {
                if df
                    .credential(reference)
                    .is_some_and(|c| !c.is_consistent(reference))
                {
                    return Err(format!(
                        "DF {:04X} has a credential of bad length or counter",
                        df.fid
                    ));
                }
            }
            if df.life_cycle == LifeCycle::Activated && !df.is_complete() {
                return Err(format!("DF {:04X} is activated but incomplete", df.fid));
            }
            for (j, ef) in df.efs.iter().enumerate() {
                if is_reserved_fid(ef.fid) || df.efs[..j].iter().any(|o| o.fid == ef.fid) {
                    return Err(format!(
                        "EF {:04X} in DF {:04X} has a reserved or duplicate FID",
                        ef.fid, df.fid
                    ));
                }
                if ef.content.is_empty() || ef.content.len() > MAX_EF_SIZE {
                    return Err(format!("EF {:04X} has a bad size", ef.fid));
                }
            }
        }
        Ok(())
    }
}

/// Serde helpers storing bytes as a hex string.
mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(value: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode(value))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        hex::decode(text).map_err(|_| serde::de::Error::custom("a byte string is not valid hex"))
    }
}
