//! Helpers shared by the softcard integration tests: APDU builders and a card wrapper that
//! splits responses into data and status word.
#![allow(dead_code)]

use softcard::Card;

/// The DF name used by most tests.
pub const AID: &[u8] = &[0xA0, 0x00, 0x00, 0x05, 0x27, 0x01];
/// The DF's FID.
pub const DF_FID: u16 = 0x1000;
/// Holder PIN and reset code used by most tests.
pub const PIN: &[u8] = b"1234";
/// The reset code.
pub const RESET_CODE: &[u8] = b"87654321";

/// SC bytes.
pub const ALWAYS: u8 = 0x00;
/// SC user authentication.
pub const USER: u8 = 0x10;
/// SC never.
pub const NEVER: u8 = 0xFF;

/// A short C-APDU (case 1 to 4S); `le` is the Le byte.
pub fn apdu(ins: u8, p1: u8, p2: u8, data: &[u8], le: Option<u8>) -> Vec<u8> {
    let mut out = vec![0x00, ins, p1, p2];
    if !data.is_empty() {
        out.push(u8::try_from(data.len()).expect("short data"));
        out.extend_from_slice(data);
    }
    out.extend(le);
    out
}

/// An extended C-APDU; `le` is the 2-byte Le.
pub fn apdu_ext(ins: u8, p1: u8, p2: u8, data: &[u8], le: Option<u16>) -> Vec<u8> {
    let mut out = vec![0x00, ins, p1, p2, 0x00];
    if !data.is_empty() {
        out.extend_from_slice(&u16::try_from(data.len()).unwrap().to_be_bytes());
        out.extend_from_slice(data);
    }
    if let Some(le) = le {
        out.extend_from_slice(&le.to_be_bytes());
    }
    out
}

/// FCP template of a DF.
pub fn df_fcp(fid: u16, name: &[u8]) -> Vec<u8> {
    let mut body = vec![0x82, 0x01, 0x38, 0x83, 0x02];
    body.extend(fid.to_be_bytes());
    body.extend([0x84, name.len() as u8]);
    body.extend(name);
    body.extend([0x8A, 0x01, 0x01]);
    tpl(body)
}

/// FCP template of a transparent EF with access rule `8C 03 03 update read`.
pub fn ef_fcp(fid: u16, size: u16, update: u8, read: u8) -> Vec<u8> {
    let mut body = vec![0x82, 0x01, 0x01, 0x83, 0x02];
    body.extend(fid.to_be_bytes());
    body.extend([0x80, 0x02]);
    body.extend(size.to_be_bytes());
    body.extend([0x8A, 0x01, 0x01, 0x8C, 0x03, 0x03, update, read]);
    tpl(body)
}

fn tpl(body: Vec<u8>) -> Vec<u8> {
    let mut out = vec![0x62, body.len() as u8];
    out.extend(body);
    out
}

/// A card under test.
pub struct Tester {
    /// The card.
    pub card: Card,
}

impl Tester {
    /// A blank card.
    pub fn new() -> Tester {
        Tester {
            card: Card::blank(),
        }
    }

    /// Sends an APDU; returns data and SW.
    pub fn send(&mut self, apdu: &[u8]) -> (Vec<u8>, u16) {
        let mut response = self.card.transmit(apdu);
        assert!(response.len() >= 2, "every response ends with a SW");
        let sw = response.split_off(response.len() - 2);
        (response, u16::from_be_bytes([sw[0], sw[1]]))
    }

    /// Sends an APDU; returns the SW and asserts there is no data.
    pub fn sw(&mut self, apdu: &[u8]) -> u16 {
        let (data, sw) = self.send(apdu);
        assert!(
            data.is_empty(),
            "no data expected, got {data:02X?} with {sw:04X}"
        );
        sw
    }

    /// Sends and asserts the SW.
    pub fn expect(&mut self, apdu: &[u8], sw: u16) {
        assert_eq!(self.sw(apdu), sw, "APDU {apdu:02X?}");
    }

    /// SELECT by FID, no response data.
    pub fn select(&mut self, fid: u16) -> u16 {
        self.sw(&apdu(0xA4, 0x00, 0x0C, &fid.to_be_bytes(), None))
    }

    /// SELECT by DF name, no response data.
    pub fn select_name(&mut self, name: &[u8]) -> u16 {
        self.sw(&apdu(0xA4, 0x04, 0x0C, name, None))
    }

    /// CREATE FILE.
    pub fn create(&mut self, fcp: &[u8]) -> u16 {
        self.sw(&apdu(0xE0, 0x00, 0x00, fcp, None))
    }

    /// UPDATE BINARY.
    pub fn update(&mut self, offset: u16, data: &[u8]) -> u16 {
        let [p1, p2] = offset.to_be_bytes();
        self.sw(&apdu(0xD6, p1, p2, data, None))
    }

    /// READ BINARY with a short Le.
    pub fn read(&mut self, offset: u16, le: u8) -> (Vec<u8>, u16) {
        let [p1, p2] = offset.to_be_bytes();
        self.send(&apdu(0xB0, p1, p2, &[], Some(le)))
    }

    /// VERIFY.
    pub fn verify(&mut self, reference: u8, value: &[u8]) -> u16 {
        self.sw(&apdu(0x20, 0x00, reference, value, None))
    }

    /// CHANGE REFERENCE DATA P1 01 (set during personalization).
    pub fn set_credential(&mut self, reference: u8, value: &[u8]) -> u16 {
        self.sw(&apdu(0x24, 0x01, reference, value, None))
    }

    /// ACTIVATE FILE on the current file (`None`) or a child FID.
    pub fn activate(&mut self, fid: Option<u16>) -> u16 {
        let data = fid.map(|f| f.to_be_bytes().to_vec()).unwrap_or_default();
        self.sw(&apdu(0x44, 0x00, 0x00, &data, None))
    }

    /// DELETE FILE on the current file (`None`) or a child FID.
    pub fn delete(&mut self, fid: Option<u16>) -> u16 {
        let data = fid.map(|f| f.to_be_bytes().to_vec()).unwrap_or_default();
        self.sw(&apdu(0xE4, 0x00, 0x00, &data, None))
    }

    /// A DF with EFs 0101 (always/always, 16 bytes), 0102 (never/user, 300 bytes) and
    /// 0103 (never/never, 8 bytes), both credentials set; everything still in creation state.
    pub fn personalizing(&mut self) {
        assert_eq!(self.create(&df_fcp(DF_FID, AID)), 0x9000);
        assert_eq!(self.create(&ef_fcp(0x0101, 16, ALWAYS, ALWAYS)), 0x9000);
        assert_eq!(self.create(&ef_fcp(0x0102, 300, NEVER, USER)), 0x9000);
        assert_eq!(self.create(&ef_fcp(0x0103, 8, NEVER, NEVER)), 0x9000);
        assert_eq!(self.set_credential(0x81, PIN), 0x9000);
        assert_eq!(self.set_credential(0x82, RESET_CODE), 0x9000);
    }

    /// [`Tester::personalizing`], content written, everything activated.
    pub fn personalized(&mut self) {
        self.personalizing();
        for (fid, fill) in [(0x0101u16, 0x11u8), (0x0102, 0x22), (0x0103, 0x33)] {
            assert_eq!(self.select(fid), 0x9000);
            assert_eq!(self.update(0, &[fill; 8]), 0x9000);
            assert_eq!(self.activate(None), 0x9000);
        }
        assert_eq!(self.select(DF_FID), 0x9000);
        assert_eq!(self.activate(None), 0x9000);
    }
}
