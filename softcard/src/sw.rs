//! Status words (ISO/IEC 7816-4 §5.6), exactly the set `docs/card-os.md` lists.

/// A status word SW1-SW2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Sw(pub(crate) u16);

impl Sw {
    /// `9000`: normal processing.
    pub(crate) const OK: Sw = Sw(0x9000);
    /// `6700`: wrong length.
    pub(crate) const WRONG_LENGTH: Sw = Sw(0x6700);
    /// `6982`: security status not satisfied.
    pub(crate) const SECURITY_NOT_SATISFIED: Sw = Sw(0x6982);
    /// `6983`: authentication method blocked.
    pub(crate) const AUTH_BLOCKED: Sw = Sw(0x6983);
    /// `6985`: conditions of use not satisfied.
    pub(crate) const CONDITIONS_NOT_SATISFIED: Sw = Sw(0x6985);
    /// `6986`: command not allowed (no current EF).
    pub(crate) const NO_CURRENT_EF: Sw = Sw(0x6986);
    /// `6A80`: incorrect parameters in the command data field.
    pub(crate) const INCORRECT_DATA: Sw = Sw(0x6A80);
    /// `6A82`: file or application not found.
    pub(crate) const FILE_NOT_FOUND: Sw = Sw(0x6A82);
    /// `6A84`: not enough memory space in the file / outside the file.
    pub(crate) const NOT_ENOUGH_MEMORY: Sw = Sw(0x6A84);
    /// `6A86`: incorrect parameters P1-P2.
    pub(crate) const INCORRECT_P1P2: Sw = Sw(0x6A86);
    /// `6A88`: referenced data or reference data not found.
    pub(crate) const REFERENCE_NOT_FOUND: Sw = Sw(0x6A88);
    /// `6A89`: file already exists.
    pub(crate) const FILE_EXISTS: Sw = Sw(0x6A89);
    /// `6B00`: wrong parameters P1-P2 (offset outside the EF).
    pub(crate) const WRONG_OFFSET: Sw = Sw(0x6B00);
    /// `6D00`: instruction code not supported.
    pub(crate) const INS_NOT_SUPPORTED: Sw = Sw(0x6D00);
    /// `6E00`: class not supported.
    pub(crate) const CLA_NOT_SUPPORTED: Sw = Sw(0x6E00);

    /// `63Cx`: verification failed, `x` tries left (0 to 15).
    pub(crate) fn tries_left(tries: u8) -> Sw {
        Sw(0x63C0 | u16::from(tries.min(0x0F)))
    }

    /// `61xx`: `remaining` bytes still available (`xx = 00` for 256 or more).
    pub(crate) fn more_data(remaining: usize) -> Sw {
        Sw(0x6100 | Self::count_byte(remaining))
    }

    /// `6Cxx`: wrong Le, `exact` bytes available (`xx = 00` for 256 or more).
    pub(crate) fn wrong_le(exact: usize) -> Sw {
        Sw(0x6C00 | Self::count_byte(exact))
    }

    fn count_byte(count: usize) -> u16 {
        u16::try_from(count).ok().filter(|c| *c < 256).unwrap_or(0)
    }

    /// The two bytes SW1 SW2.
    pub(crate) fn to_bytes(self) -> [u8; 2] {
        self.0.to_be_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::Sw;

    #[test]
    fn counts_of_256_or_more_encode_as_00() {
        assert_eq!(Sw::more_data(0x38), Sw(0x6138));
        assert_eq!(Sw::more_data(256), Sw(0x6100));
        assert_eq!(Sw::more_data(70_000), Sw(0x6100));
        assert_eq!(Sw::wrong_le(255), Sw(0x6CFF));
        assert_eq!(Sw::wrong_le(300), Sw(0x6C00));
        assert_eq!(Sw::tries_left(2), Sw(0x63C2));
        assert_eq!(Sw::tries_left(10), Sw(0x63CA));
    }
}
