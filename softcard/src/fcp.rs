//! File control parameters (ISO/IEC 7816-4 §7.4): parsing the FCP template `62` of CREATE FILE
//! (ISO/IEC 7816-9 §7.1) and encoding the FCP returned by SELECT (ISO/IEC 7816-4 §11.2.2).
//!
//! Parsing is strict: exactly one template `62`, each allowed tag at most once, nothing else.

use iso7816_tlv::ber::{Tlv, Value};

use crate::fs::{
    is_reserved_fid, AccessRule, Df, Ef, SecurityCondition, MAX_DF_NAME, MAX_EF_SIZE, MF_FID,
};

/// File descriptor byte of a DF.
const FDB_DF: u8 = 0x38;
/// File descriptor byte of a transparent working EF.
const FDB_TRANSPARENT_EF: u8 = 0x01;
/// Access-mode byte covering UPDATE BINARY (b2) and READ BINARY (b1).
const AM_UPDATE_READ: u8 = 0x03;
/// Deepest nesting of constructed data objects looked at before parsing (the TLV parser
/// recurses; a 1024-byte command could otherwise nest 500 levels).
const MAX_NESTING: usize = 4;

/// What CREATE FILE asks for, once the FCP is validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FileSpec {
    /// A DF with its FID and DF name.
    Df { fid: u16, name: Vec<u8> },
    /// A transparent EF with its FID, size and optional compact security attributes.
    Ef {
        fid: u16,
        size: usize,
        access: Option<AccessRule>,
    },
}

/// The FCP is malformed or asks for something this OS does not offer (`6A80`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MalformedFcp;

/// The fields of a template, each present at most once.
#[derive(Default)]
struct Fields<'a> {
    size: Option<&'a [u8]>,
    descriptor: Option<&'a [u8]>,
    fid: Option<&'a [u8]>,
    name: Option<&'a [u8]>,
    life_cycle: Option<&'a [u8]>,
    security: Option<&'a [u8]>,
}

impl<'a> Fields<'a> {
    fn set(&mut self, tag: u8, value: &'a [u8]) -> Result<(), MalformedFcp> {
        let slot = match tag {
            0x80 => &mut self.size,
            0x82 => &mut self.descriptor,
            0x83 => &mut self.fid,
            0x84 => &mut self.name,
            0x8A => &mut self.life_cycle,
            0x8C => &mut self.security,
            _ => return Err(MalformedFcp),
        };
        if slot.replace(value).is_some() {
            return Err(MalformedFcp);
        }
        Ok(())
    }
}

/// Parses the data field of CREATE FILE.
pub(crate) fn parse_create(data: &[u8]) -> Result<FileSpec, MalformedFcp> {
    if nesting_depth(data, MAX_NESTING) > MAX_NESTING {
        return Err(MalformedFcp);
    }
    let template = Tlv::from_bytes(data).map_err(|_| MalformedFcp)?;
    if template.tag().to_bytes() != [0x62] {
        return Err(MalformedFcp);
    }
    let Value::Constructed(children) = template.value() else {
        return Err(MalformedFcp);
    };
    let mut fields = Fields::default();
    for child in children {
        let (&[tag], Value::Primitive(value)) = (child.tag().to_bytes(), child.value()) else {
            return Err(MalformedFcp);
        };
        fields.set(tag, value)?;
    }
    build_spec(&fields)
}

fn build_spec(fields: &Fields<'_>) -> Result<FileSpec, MalformedFcp> {
    let fid = match fields.fid {
        Some(&[hi, lo]) => u16::from_be_bytes([hi, lo]),
        _ => return Err(MalformedFcp),
    };
    if is_reserved_fid(fid) {
        return Err(MalformedFcp);
    }
    if fields.life_cycle.is_some_and(|lcs| lcs != [0x01]) {
        return Err(MalformedFcp);
    }
    match fields.descriptor {
        Some(&[FDB_DF]) => {
            // 8C is accepted and ignored for a DF; 80 is EF-only.
            if fields.size.is_some() {
                return Err(MalformedFcp);
            }
            let name = fields.name.ok_or(MalformedFcp)?;
            if name.is_empty() || name.len() > MAX_DF_NAME {
                return Err(MalformedFcp);
            }
            Ok(FileSpec::Df {
                fid,
                name: name.to_vec(),
            })
        }
        Some(&[FDB_TRANSPARENT_EF]) => {
            if fields.name.is_some() {
                return Err(MalformedFcp);
            }
            let size = match fields.size {
                Some(&[n]) => usize::from(n),
                Some(&[hi, lo]) => usize::from(u16::from_be_bytes([hi, lo])),
                _ => return Err(MalformedFcp),
            };
            if size == 0 || size > MAX_EF_SIZE {
                return Err(MalformedFcp);
            }
            let access = fields.security.map(parse_compact).transpose()?;
            Ok(FileSpec::Ef { fid, size, access })
        }
        _ => Err(MalformedFcp),
    }
}

/// Compact security attributes `8C 03 03 <SC update> <SC read>` (ISO/IEC 7816-4 §7.4.3.1).
fn parse_compact(value: &[u8]) -> Result<AccessRule, MalformedFcp> {
    let &[AM_UPDATE_READ, update, read] = value else {
        return Err(MalformedFcp);
    };
    Ok(AccessRule {
        update: SecurityCondition::from_byte(update).ok_or(MalformedFcp)?,
        read: SecurityCondition::from_byte(read).ok_or(MalformedFcp)?,
    })
}

/// The deepest nesting of constructed BER-TLV objects, found by an iterative scan that walks
/// the objects in the same order as the (recursive) TLV parser. Stops early once `limit` is
/// exceeded or the encoding breaks (the parser then fails at the same place).
fn nesting_depth(data: &[u8], limit: usize) -> usize {
    let mut open_ends: Vec<usize> = Vec::new();
    let mut pos = 0usize;
    let mut deepest = 0usize;
    while pos < data.len() && deepest <= limit {
        while open_ends.last().is_some_and(|end| pos >= *end) {
            open_ends.pop();
        }
        let Some(&first) = data.get(pos) else { break };
        pos += 1;
        if first & 0x1F == 0x1F {
            while data.get(pos).is_some_and(|b| b & 0x80 != 0) {
                pos += 1;
            }
            pos += 1;
        }
        let Some(&len_byte) = data.get(pos) else {
            break;
        };
        pos += 1;
        let len = if len_byte & 0x80 == 0 {
            usize::from(len_byte)
        } else {
            let count = usize::from(len_byte & 0x7F);
            let Some(bytes) = data.get(pos..pos.saturating_add(count)) else {
                break;
            };
            if count > 4 {
                break;
            }
            pos += count;
            bytes
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
        };
        if first & 0x20 != 0 {
            open_ends.push(pos.saturating_add(len));
            deepest = deepest.max(open_ends.len());
        } else {
            pos = pos.saturating_add(len);
        }
    }
    deepest
}

/// Appends one primitive data object with a short (under 128 bytes) value.
fn push_tlv(out: &mut Vec<u8>, tag: u8, value: &[u8]) {
    out.push(tag);
    out.push(u8::try_from(value.len()).unwrap_or(0));
    out.extend_from_slice(value);
}

/// Wraps the objects in the FCP template `62`.
fn template(body: Vec<u8>) -> Vec<u8> {
    let mut out = vec![0x62];
    out.push(u8::try_from(body.len()).unwrap_or(0));
    out.extend(body);
    out
}

/// FCP of the MF: descriptor, FID, life cycle (always operational).
pub(crate) fn encode_mf() -> Vec<u8> {
    let mut body = Vec::new();
    push_tlv(&mut body, 0x82, &[FDB_DF]);
    push_tlv(&mut body, 0x83, &MF_FID.to_be_bytes());
    push_tlv(&mut body, 0x8A, &[0x05]);
    template(body)
}

/// FCP of a DF: descriptor, FID, DF name, life cycle.
pub(crate) fn encode_df(df: &Df) -> Vec<u8> {
    let mut body = Vec::new();
    push_tlv(&mut body, 0x82, &[FDB_DF]);
    push_tlv(&mut body, 0x83, &df.fid.to_be_bytes());
    push_tlv(&mut body, 0x84, &df.name);
    push_tlv(&mut body, 0x8A, &[df.life_cycle.byte()]);
    template(body)
}

/// FCP of an EF: size, descriptor, FID, life cycle, compact security attributes if any.
pub(crate) fn encode_ef(ef: &Ef) -> Vec<u8> {
    let mut body = Vec::new();
    let size = u16::try_from(ef.content.len()).unwrap_or(u16::MAX);
    push_tlv(&mut body, 0x80, &size.to_be_bytes());
    push_tlv(&mut body, 0x82, &[FDB_TRANSPARENT_EF]);
    push_tlv(&mut body, 0x83, &ef.fid.to_be_bytes());
    push_tlv(&mut body, 0x8A, &[ef.life_cycle.byte()]);
    if let Some(rule) = ef.access {
        push_tlv(
            &mut body,
            0x8C,
            &[AM_UPDATE_READ, rule.update.byte(), rule.read.byte()],
        );
    }
    template(body)
}

#[cfg(test)]
mod tests {
    use super::{parse_create, FileSpec, MalformedFcp};
    use crate::fs::{AccessRule, SecurityCondition};

    /// Wraps objects in a template `62` with the right length.
    fn t62(objects: &[&[u8]]) -> Vec<u8> {
        let body = objects.concat();
        let mut out = vec![0x62, body.len() as u8];
        out.extend(body);
        out
    }

    const EF: &[u8] = &[0x82, 0x01, 0x01];
    const DF: &[u8] = &[0x82, 0x01, 0x38];
    const FID: &[u8] = &[0x83, 0x02, 0x01, 0x01];
    const SIZE: &[u8] = &[0x80, 0x01, 0x10];

    #[test]
    fn parses_a_df() {
        let fcp = t62(&[
            DF,
            &[0x83, 0x02, 0x10, 0x00],
            &[0x84, 0x05, 1, 2, 3, 4, 5],
            &[0x8A, 0x01, 0x01],
            &[0x8C, 0x02, 0x01, 0x00],
        ]);
        assert_eq!(
            parse_create(&fcp),
            Ok(FileSpec::Df {
                fid: 0x1000,
                name: vec![1, 2, 3, 4, 5]
            })
        );
    }

    #[test]
    fn parses_an_ef_with_access_rule() {
        let fcp = t62(&[
            EF,
            FID,
            &[0x80, 0x02, 0x01, 0x00],
            &[0x8C, 0x03, 0x03, 0xFF, 0x10],
            &[0x8A, 0x01, 0x01],
        ]);
        assert_eq!(
            parse_create(&fcp),
            Ok(FileSpec::Ef {
                fid: 0x0101,
                size: 256,
                access: Some(AccessRule {
                    update: SecurityCondition::Never,
                    read: SecurityCondition::UserAuth
                })
            })
        );
        assert_eq!(
            parse_create(&t62(&[EF, FID, &[0x80, 0x02, 0x7F, 0xFF]])),
            Ok(FileSpec::Ef {
                fid: 0x0101,
                size: 32_767,
                access: None
            })
        );
    }

    #[test]
    fn rejects_malformed_templates() {
        let mut trailing = t62(&[EF, FID, SIZE]);
        trailing.push(0);
        let mut wrong_outer = t62(&[EF, FID, SIZE]);
        wrong_outer[0] = 0x6F;
        let bad: Vec<Vec<u8>> = vec![
            vec![],
            vec![0x62],
            t62(&[]),
            wrong_outer,
            trailing,
            vec![0x62, 0x30, 0x82, 0x01, 0x01], // length beyond the data
            t62(&[EF, FID]),                    // no size for an EF
            t62(&[EF, FID, &[0x80, 0x01, 0x00]]), // size 0
            t62(&[EF, FID, &[0x80, 0x02, 0x80, 0x00]]), // size 32768
            t62(&[EF, FID, &[0x80, 0x03, 0, 0, 1]]), // 3-byte size
            t62(&[EF, FID, &[0x80, 0x00]]),     // empty size
            t62(&[EF, &[0x83, 0x02, 0x3F, 0xFF], SIZE]), // reserved FID
            t62(&[EF, &[0x83, 0x02, 0x3F, 0x00], SIZE]), // reserved FID
            t62(&[EF, &[0x83, 0x02, 0xFF, 0xFF], SIZE]), // reserved FID
            t62(&[EF, &[0x83, 0x01, 0x01], SIZE]), // 1-byte FID
            t62(&[EF, SIZE]),                   // no FID
            t62(&[FID, SIZE]),                  // no descriptor
            t62(&[&[0x82, 0x01, 0x02], FID, SIZE]), // record EF
            t62(&[&[0x82, 0x02, 0x01, 0x21], FID, SIZE]), // descriptor + coding byte
            t62(&[EF, FID, SIZE, &[0x8A, 0x01, 0x05]]), // life cycle other than 01
            t62(&[EF, FID, SIZE, &[0x8A, 0x02, 0x01, 0x01]]),
            t62(&[EF, FID, SIZE, SIZE]),                // duplicate tag
            t62(&[EF, FID, SIZE, &[0x88, 0x01, 0x01]]), // unknown tag
            t62(&[EF, FID, SIZE, &[0x84, 0x01, 0x01]]), // DF name on an EF
            t62(&[DF, FID]),                            // DF without name
            t62(&[DF, FID, &[0x84, 0x00]]),             // empty DF name
            t62(&[DF, FID, &[0x84, 0x01, 0x01], SIZE]), // DF with a size
            t62(&[DF, FID, &[0x84, 0x11], &[7; 17]]),   // DF name of 17 bytes
            t62(&[EF, FID, SIZE, &[0x8C, 0x03, 0x03, 0x11, 0x00]]), // SC not offered
            t62(&[EF, FID, SIZE, &[0x8C, 0x03, 0x07, 0x00, 0x00]]), // AM other than 03
            t62(&[EF, FID, SIZE, &[0x8C, 0x02, 0x01, 0x00]]), // AM 01
            t62(&[EF, FID, SIZE, &[0x8C, 0x04, 0x03, 0x00, 0x00, 0x00]]),
            t62(&[&[0xA5, 0x03, 0x82, 0x01, 0x01], FID, SIZE]), // constructed child
            t62(&[EF, FID, &[0x9F, 0x80, 0x01, 0x00]]),         // multi-byte tag
        ];
        for fcp in &bad {
            assert_eq!(parse_create(fcp), Err(MalformedFcp), "{fcp:02X?}");
        }
    }

    #[test]
    fn deep_nesting_is_rejected_without_recursing() {
        let mut fcp = Vec::new();
        for _ in 0..500 {
            fcp.extend([0x62, 0x81, 0xFF]);
        }
        assert_eq!(parse_create(&fcp), Err(MalformedFcp));
        let mut short = Vec::new();
        for _ in 0..512 {
            short.extend([0xA0, 0x00]);
        }
        assert_eq!(parse_create(&short), Err(MalformedFcp));
        // deep nesting hidden behind a primitive sibling
        let mut hidden = vec![0x62, 0x82, 0x03, 0xFF, 0x82, 0x01, 0x01];
        for _ in 0..400 {
            hidden.extend([0xA0, 0x82, 0x03, 0xF0]);
        }
        assert_eq!(parse_create(&hidden), Err(MalformedFcp));
        assert_eq!(super::nesting_depth(&hidden, 1000), 401);
    }
}
