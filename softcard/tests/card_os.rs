//! Every command and rule of docs/card-os.md, through `Card::transmit`.

mod common;

use common::*;
use softcard::Card;

#[test]
fn blank_card_has_only_the_mf() {
    let mut t = Tester::new();
    assert!(t.card.is_blank());
    let (fcp, sw) = t.send(&apdu(0xA4, 0x00, 0x04, &[0x3F, 0x00], Some(0)));
    assert_eq!(sw, 0x9000);
    assert_eq!(
        fcp,
        [0x62, 0x0A, 0x82, 0x01, 0x38, 0x83, 0x02, 0x3F, 0x00, 0x8A, 0x01, 0x05]
    );
    // Empty data with P1 00 selects the MF too (ISO 7816-4 §11.2.2).
    assert_eq!(t.sw(&apdu(0xA4, 0x00, 0x0C, &[], None)), 0x9000);
    assert_eq!(t.select(0x1000), 0x6A82);
    assert_eq!(t.select_name(AID), 0x6A82);
}

#[test]
fn unsupported_cla_and_ins() {
    let mut t = Tester::new();
    for cla in [0x80, 0x0C, 0x10, 0x01, 0xFF] {
        t.expect(&[cla, 0xA4, 0x00, 0x0C, 0x02, 0x3F, 0x00], 0x6E00);
    }
    for ins in [
        0x00, 0x0E, 0x22, 0x46, 0x82, 0x84, 0x88, 0xB2, 0xCA, 0xDA, 0xE2, 0xFE,
    ] {
        t.expect(&[0x00, ins, 0x00, 0x00], 0x6D00);
    }
}

#[test]
fn select_by_fid_name_and_paths_with_fcp() {
    let mut t = Tester::new();
    t.personalizing();
    assert_eq!(t.select(0x3F00), 0x9000);

    // DF by FID from the MF, with its FCP.
    let (fcp, sw) = t.send(&apdu(0xA4, 0x00, 0x04, &DF_FID.to_be_bytes(), Some(0)));
    assert_eq!(sw, 0x9000);
    let mut expected = vec![
        0x62, 0x12, 0x82, 0x01, 0x38, 0x83, 0x02, 0x10, 0x00, 0x84, 0x06,
    ];
    expected.extend(AID);
    expected.extend([0x8A, 0x01, 0x01]);
    assert_eq!(fcp, expected);

    // EF of the current DF by FID, with its FCP (size, descriptor, FID, LCS, 8C).
    let (fcp, sw) = t.send(&apdu(0xA4, 0x00, 0x04, &[0x01, 0x02], Some(0)));
    assert_eq!(sw, 0x9000);
    assert_eq!(
        fcp,
        [
            0x62, 0x13, 0x80, 0x02, 0x01, 0x2C, 0x82, 0x01, 0x01, 0x83, 0x02, 0x01, 0x02, 0x8A,
            0x01, 0x01, 0x8C, 0x03, 0x03, 0xFF, 0x10
        ]
    );

    // From an EF: a sibling EF, the DF itself, the MF.
    assert_eq!(t.select(0x0101), 0x9000);
    assert_eq!(t.select(DF_FID), 0x9000);
    assert_eq!(t.select(0x3F00), 0x9000);
    // An EF is not visible from the MF by FID.
    assert_eq!(t.select(0x0101), 0x6A82);

    // By DF name (exact match only).
    assert_eq!(t.select_name(AID), 0x9000);
    assert_eq!(t.select_name(&AID[..5]), 0x6A82);
    let mut longer = AID.to_vec();
    longer.push(0);
    assert_eq!(t.select_name(&longer), 0x6A82);
    let (fcp, sw) = t.send(&apdu(0xA4, 0x04, 0x04, AID, Some(0)));
    assert_eq!((fcp[0], sw), (0x62, 0x9000));

    // Path from the MF (without 3F00) and from the current DF.
    assert_eq!(t.select(0x3F00), 0x9000);
    t.expect(
        &apdu(0xA4, 0x08, 0x0C, &[0x10, 0x00, 0x01, 0x03], None),
        0x9000,
    );
    let (data, sw) = t.read(0, 8);
    assert_eq!((data, sw), (vec![0; 8], 0x9000));
    t.expect(&apdu(0xA4, 0x08, 0x0C, &[0x10, 0x00], None), 0x9000);
    t.expect(
        &apdu(0xA4, 0x08, 0x0C, &[0x3F, 0x00, 0x10, 0x00], None),
        0x6A82,
    );
    t.expect(
        &apdu(
            0xA4,
            0x08,
            0x0C,
            &[0x10, 0x00, 0x01, 0x03, 0x01, 0x01],
            None,
        ),
        0x6A82,
    );
    t.expect(&apdu(0xA4, 0x09, 0x0C, &[0x01, 0x01], None), 0x9000);
    t.expect(&apdu(0xA4, 0x09, 0x0C, &[0x01, 0x09], None), 0x6A82);
    assert_eq!(t.select(0x3F00), 0x9000);
    t.expect(
        &apdu(0xA4, 0x09, 0x0C, &[0x10, 0x00, 0x01, 0x01], None),
        0x9000,
    );

    // A deep path is just not found.
    let deep: Vec<u8> = std::iter::repeat_n([0x10, 0x00], 120).flatten().collect();
    t.expect(&apdu(0xA4, 0x08, 0x0C, &deep, None), 0x6A82);
}

#[test]
fn select_errors() {
    let mut t = Tester::new();
    t.personalizing();
    // Bad P1 / P2.
    for (p1, p2) in [
        (0x01, 0x0C),
        (0x02, 0x0C),
        (0x03, 0x0C),
        (0x00, 0x00),
        (0x00, 0x08),
        (0x04, 0x0E),
        (0x00, 0x0D),
    ] {
        t.expect(&apdu(0xA4, p1, p2, &[0x3F, 0x00], None), 0x6A86);
    }
    // Wrong lengths.
    t.expect(&apdu(0xA4, 0x00, 0x0C, &[0x3F], None), 0x6700);
    t.expect(&apdu(0xA4, 0x00, 0x0C, &[0x3F, 0x00, 0x00], None), 0x6700);
    t.expect(&apdu(0xA4, 0x08, 0x0C, &[0x10], None), 0x6700);
    t.expect(&apdu(0xA4, 0x08, 0x0C, &[], None), 0x6700);
    t.expect(&apdu(0xA4, 0x04, 0x0C, &[], None), 0x6700);
    // Reserved FIDs are never found.
    assert_eq!(t.select(0x3FFF), 0x6A82);
    assert_eq!(t.select(0xFFFF), 0x6A82);
    // A failed SELECT leaves the current file as it was.
    assert_eq!(t.select(0x0101), 0x9000);
    assert_eq!(t.select(0x0999), 0x6A82);
    assert_eq!(t.update(0, &[1]), 0x9000);
    // Le shorter than the FCP: 6Cxx with the exact length, nothing selected.
    assert_eq!(t.select(0x3F00), 0x9000);
    t.expect(
        &apdu(0xA4, 0x00, 0x04, &DF_FID.to_be_bytes(), Some(4)),
        0x6C14,
    );
    assert_eq!(t.select(0x0101), 0x6A82, "the DF was not selected");
    // P2 04 without Le still returns the FCP.
    let (fcp, sw) = t.send(&apdu(0xA4, 0x00, 0x04, &DF_FID.to_be_bytes(), None));
    assert_eq!((fcp.len(), sw), (0x14, 0x9000));
}

#[test]
fn create_file_rules() {
    let mut t = Tester::new();
    // An EF cannot be created in the MF.
    assert_eq!(t.create(&ef_fcp(0x0101, 4, ALWAYS, ALWAYS)), 0x6985);
    assert_eq!(t.create(&df_fcp(DF_FID, AID)), 0x9000);
    assert!(!t.card.is_blank());
    assert_eq!(t.card.life_cycle(AID, None), Some(0x01));
    // Duplicates: DF FID, DF name (even selected from within the first DF).
    assert_eq!(t.create(&df_fcp(DF_FID, b"other")), 0x6A89);
    assert_eq!(t.create(&df_fcp(0x2000, AID)), 0x6A89);
    // The new DF is the current file: its EFs go into it.
    assert_eq!(t.create(&ef_fcp(0x0101, 4, ALWAYS, ALWAYS)), 0x9000);
    assert_eq!(t.card.life_cycle(AID, Some(0x0101)), Some(0x01));
    assert_eq!(t.create(&ef_fcp(0x0101, 4, ALWAYS, ALWAYS)), 0x6A89);
    // The new EF is the current file.
    assert_eq!(t.update(0, &[1, 2, 3, 4]), 0x9000);
    assert_eq!(t.card.file_content(AID, 0x0101), Some(vec![1, 2, 3, 4]));
    // A second DF is created under the MF even from inside the first one; the same EF FID
    // is fine in another DF.
    assert_eq!(t.create(&df_fcp(0x2000, b"second")), 0x9000);
    assert_eq!(t.create(&ef_fcp(0x0101, 4, ALWAYS, ALWAYS)), 0x9000);
    assert_eq!(t.card.file_content(b"second", 0x0101), Some(vec![0; 4]));
    // Malformed FCPs, bad P1-P2, empty data.
    assert_eq!(t.create(&[0x62, 0x03, 0x82, 0x01, 0x01]), 0x6A80);
    assert_eq!(t.create(&[0x01, 0x02, 0x03]), 0x6A80);
    assert_eq!(t.sw(&apdu(0xE0, 0x00, 0x00, &[], None)), 0x6A80);
    assert_eq!(
        t.sw(&apdu(
            0xE0,
            0x00,
            0x01,
            &ef_fcp(0x0102, 4, ALWAYS, ALWAYS),
            None
        )),
        0x6A86
    );
}

#[test]
fn create_file_capacity_is_32_kib() {
    let mut t = Tester::new();
    assert_eq!(t.create(&df_fcp(DF_FID, AID)), 0x9000);
    assert_eq!(t.create(&ef_fcp(0x0101, 32_767, ALWAYS, ALWAYS)), 0x9000);
    assert_eq!(t.create(&ef_fcp(0x0102, 2, ALWAYS, ALWAYS)), 0x6A84);
    assert_eq!(t.create(&ef_fcp(0x0102, 1, ALWAYS, ALWAYS)), 0x9000);
    assert_eq!(t.create(&ef_fcp(0x0103, 1, ALWAYS, ALWAYS)), 0x6A84);
    // Deleting frees the room.
    assert_eq!(t.delete(Some(0x0101)), 0x9000);
    assert_eq!(t.create(&ef_fcp(0x0103, 32_767, ALWAYS, ALWAYS)), 0x9000);
}

#[test]
fn create_file_limits_the_number_of_files() {
    let mut t = Tester::new();
    let mut created = 0;
    for i in 0..400u16 {
        if t.create(&df_fcp(0x1000 + i, &i.to_be_bytes())) == 0x9000 {
            created += 1;
        } else {
            assert_eq!(t.create(&df_fcp(0x1000 + i, &i.to_be_bytes())), 0x6A84);
            break;
        }
    }
    assert_eq!(created, 256);
}

#[test]
fn create_ef_needs_a_df_in_creation_state() {
    let mut t = Tester::new();
    t.personalized();
    assert_eq!(t.create(&ef_fcp(0x0104, 4, ALWAYS, ALWAYS)), 0x6985);
    // Creating another DF is still possible.
    assert_eq!(t.select(0x3F00), 0x9000);
    assert_eq!(t.create(&df_fcp(0x2000, b"next")), 0x9000);
}

#[test]
fn update_and_read_binary_with_offsets_and_bounds() {
    let mut t = Tester::new();
    t.personalizing();
    assert_eq!(t.select(0x0102), 0x9000); // 300 bytes
    let data: Vec<u8> = (0..=255u8).collect();
    assert_eq!(t.update(0, &data[..200]), 0x9000);
    assert_eq!(t.update(200, &data[..100]), 0x9000);
    assert_eq!(t.update(299, &[0xEE]), 0x9000);
    // Beyond the end: 6A84, nothing written.
    assert_eq!(t.update(299, &[1, 2]), 0x6A84);
    assert_eq!(t.update(300, &[1]), 0x6A84);
    assert_eq!(t.update(0x7FFF, &[1]), 0x6A84);
    let content = t.card.file_content(AID, 0x0102).unwrap();
    assert_eq!(&content[..200], &data[..200]);
    assert_eq!(&content[200..299], &data[..99]);
    assert_eq!(content[299], 0xEE);

    // Reads at offsets.
    assert_eq!(t.read(10, 5), (data[10..15].to_vec(), 0x9000));
    assert_eq!(t.read(0, 0), (content[..256].to_vec(), 0x9000)); // Le 00 = 256
    assert_eq!(t.read(290, 10), (content[290..].to_vec(), 0x9000));
    // Le larger than what is left: 6Cxx with the bytes left.
    assert_eq!(t.read(290, 11), (vec![], 0x6C0A));
    assert_eq!(t.read(100, 0), (vec![], 0x6CC8));
    // Offset at or beyond the end.
    assert_eq!(t.read(300, 1), (vec![], 0x6B00));
    assert_eq!(t.read(0x7FFF, 1), (vec![], 0x6B00));
    // P1 b8 set (short EF addressing) is not offered.
    t.expect(&apdu(0xB0, 0x80, 0x00, &[], Some(1)), 0x6A86);
    t.expect(&apdu(0xD6, 0x81, 0x00, &[1], None), 0x6A86);
    // No Le, data in READ BINARY, no data in UPDATE BINARY.
    t.expect(&apdu(0xB0, 0x00, 0x00, &[], None), 0x6700);
    t.expect(&apdu(0xB0, 0x00, 0x00, &[1], Some(1)), 0x6700);
    t.expect(&apdu(0xD6, 0x00, 0x00, &[], None), 0x6700);
    // Extended read of the whole file, extended write.
    let (all, sw) = t.send(&apdu_ext(0xB0, 0, 0, &[], Some(300)));
    assert_eq!((all, sw), (content.clone(), 0x9000));
    let (none, sw) = t.send(&apdu_ext(0xB0, 0, 0, &[], Some(0)));
    assert_eq!(
        (none.len(), sw),
        (0, 0x6C00),
        "65536 > 300 left, and 300 >= 256"
    );
    assert_eq!(t.sw(&apdu_ext(0xD6, 0, 4, &[0x5A; 296], None)), 0x9000);
    assert_eq!(t.read(299, 1), (vec![0x5A], 0x9000));
}

#[test]
fn no_current_ef_is_6986() {
    let mut t = Tester::new();
    assert_eq!(t.read(0, 1), (vec![], 0x6986));
    assert_eq!(t.update(0, &[1]), 0x6986);
    t.personalizing();
    assert_eq!(t.select(DF_FID), 0x9000);
    assert_eq!(t.read(0, 1), (vec![], 0x6986));
    assert_eq!(t.update(0, &[1]), 0x6986);
}

#[test]
fn access_conditions_apply_only_in_operational_state() {
    let mut t = Tester::new();
    t.personalizing();
    // Creation state: anything goes, whatever 8C says.
    for fid in [0x0101, 0x0102, 0x0103] {
        assert_eq!(t.select(fid), 0x9000);
        assert_eq!(t.update(0, &[7; 4]), 0x9000);
        assert_eq!(t.read(0, 4), (vec![7; 4], 0x9000));
    }
    // EF activated, DF still in creation: reads allowed regardless, updates never.
    assert_eq!(t.select(0x0103), 0x9000);
    assert_eq!(t.activate(None), 0x9000);
    assert_eq!(t.read(0, 4), (vec![7; 4], 0x9000));
    assert_eq!(t.update(0, &[1]), 0x6982);
    // Activate everything.
    assert_eq!(t.activate(Some(0x0101)), 0x9000);
    assert_eq!(t.activate(Some(0x0102)), 0x9000);
    assert_eq!(t.select(DF_FID), 0x9000);
    assert_eq!(t.activate(None), 0x9000);
    assert_eq!(t.card.life_cycle(AID, None), Some(0x05));
    // Operational: 00 always, 10 needs the PIN, FF never; never any UPDATE.
    assert_eq!(t.select(0x0101), 0x9000);
    assert_eq!(t.read(0, 4), (vec![7; 4], 0x9000));
    assert_eq!(t.update(0, &[1]), 0x6982);
    assert_eq!(t.select(0x0102), 0x9000);
    assert_eq!(t.read(0, 4), (vec![], 0x6982));
    assert_eq!(t.update(0, &[1]), 0x6982);
    assert_eq!(t.verify(0x81, PIN), 0x9000);
    assert_eq!(t.read(0, 4), (vec![7; 4], 0x9000));
    assert_eq!(t.update(0, &[1]), 0x6982);
    assert_eq!(t.select(0x0103), 0x9000);
    assert_eq!(t.read(0, 4), (vec![], 0x6982));
    // A verified reset code does not open user-authentication files.
    t.card.reset();
    assert_eq!(t.select_name(AID), 0x9000);
    assert_eq!(t.verify(0x82, RESET_CODE), 0x9000);
    assert_eq!(t.select(0x0102), 0x9000);
    assert_eq!(t.read(0, 4), (vec![], 0x6982));
    assert_eq!(t.card.file_content(AID, 0x0102).unwrap()[..4], [7; 4]);
}

#[test]
fn ef_without_security_attributes_is_readable() {
    let mut t = Tester::new();
    t.personalizing();
    let fcp = [
        0x62, 0x0B, 0x82, 0x01, 0x01, 0x83, 0x02, 0x01, 0x04, 0x80, 0x02, 0x00, 0x02,
    ];
    assert_eq!(t.create(&fcp), 0x9000);
    for fid in [0x0101, 0x0102, 0x0103, 0x0104] {
        assert_eq!(t.activate(Some(fid)), 0x9000);
    }
    assert_eq!(t.activate(None), 0x9000, "the current EF 0104");
    assert_eq!(t.select(DF_FID), 0x9000);
    assert_eq!(t.activate(None), 0x9000);
    assert_eq!(t.select(0x0104), 0x9000);
    assert_eq!(t.read(0, 2), (vec![0, 0], 0x9000));
    assert_eq!(t.update(0, &[1]), 0x6982);
}

#[test]
fn verify_counters_and_blocking() {
    let mut t = Tester::new();
    // The MF holds no credentials.
    assert_eq!(t.verify(0x81, PIN), 0x6A88);
    assert_eq!(t.create(&df_fcp(DF_FID, AID)), 0x9000);
    // Unset credential.
    assert_eq!(t.verify(0x81, PIN), 0x6A88);
    assert_eq!(t.verify(0x81, &[]), 0x6A88);
    t.personalizing_credentials();
    // Bad P1, unknown reference.
    t.expect(&apdu(0x20, 0x01, 0x81, PIN, None), 0x6A86);
    assert_eq!(t.verify(0x80, PIN), 0x6A88);
    assert_eq!(t.verify(0x83, PIN), 0x6A88);
    // Status query.
    assert_eq!(t.verify(0x81, &[]), 0x63C3);
    assert_eq!(t.verify(0x82, &[]), 0x63CA);
    // Wrong values count down; a right one restores the counter.
    assert_eq!(t.verify(0x81, b"0000"), 0x63C2);
    assert_eq!(t.verify(0x81, b"12345"), 0x63C1);
    assert_eq!(t.card.tries_left(AID, 0x81), Some(1));
    assert_eq!(t.verify(0x81, PIN), 0x9000);
    assert_eq!(t.card.tries_left(AID, 0x81), Some(3));
    assert_eq!(t.verify(0x81, &[]), 0x9000);
    // A failed attempt clears the verified state.
    assert_eq!(t.verify(0x81, b"9999"), 0x63C2);
    assert_eq!(t.verify(0x81, &[]), 0x63C2);
    assert_eq!(t.verify(0x81, b"9999"), 0x63C1);
    assert_eq!(t.verify(0x81, b"9999"), 0x63C0);
    // Blocked: even the right PIN is refused, the counter stays at 0.
    assert_eq!(t.verify(0x81, PIN), 0x6983);
    assert_eq!(t.verify(0x81, &[]), 0x6983);
    assert_eq!(t.card.tries_left(AID, 0x81), Some(0));
    assert!(t.card.credential_matches(AID, 0x81, PIN));
    // The reset code counts from 10.
    for left in (0..10u16).rev() {
        assert_eq!(t.verify(0x82, b"00000000"), 0x63C0 | left);
    }
    assert_eq!(t.verify(0x82, RESET_CODE), 0x6983);
}

#[test]
fn verification_is_volatile() {
    let mut t = Tester::new();
    t.personalized();
    assert_eq!(t.select_name(AID), 0x9000);
    assert_eq!(t.verify(0x81, PIN), 0x9000);
    // Selecting an EF of the same DF, or the DF again, keeps it.
    assert_eq!(t.select(0x0102), 0x9000);
    assert_eq!(t.select(DF_FID), 0x9000);
    assert_eq!(t.verify(0x81, &[]), 0x9000);
    // Selecting another DF (the MF) clears it.
    assert_eq!(t.select(0x3F00), 0x9000);
    assert_eq!(t.select(DF_FID), 0x9000);
    assert_eq!(t.verify(0x81, &[]), 0x63C3);
    // A reset clears it, and the MF is current again.
    assert_eq!(t.verify(0x81, PIN), 0x9000);
    t.card.reset();
    assert_eq!(t.select(0x0102), 0x6A82);
    assert_eq!(t.select(DF_FID), 0x9000);
    assert_eq!(t.verify(0x81, &[]), 0x63C3);
}

#[test]
fn change_reference_data_p1_01_only_in_creation_state() {
    let mut t = Tester::new();
    assert_eq!(t.set_credential(0x81, PIN), 0x6A88, "MF");
    assert_eq!(t.create(&df_fcp(DF_FID, AID)), 0x9000);
    // Length bounds.
    assert_eq!(t.set_credential(0x81, b"123"), 0x6A80);
    assert_eq!(t.set_credential(0x81, &[b'1'; 33]), 0x6A80);
    assert_eq!(t.set_credential(0x82, b"1234567"), 0x6A80);
    t.expect(&apdu(0x24, 0x01, 0x81, &[], None), 0x6A80);
    assert_eq!(t.set_credential(0x83, PIN), 0x6A88);
    t.expect(&apdu(0x24, 0x02, 0x81, PIN, None), 0x6A86);
    assert_eq!(t.set_credential(0x81, &[b'1'; 32]), 0x9000);
    assert_eq!(t.set_credential(0x82, &[b'2'; 8]), 0x9000);
    assert_eq!(t.card.tries_left(AID, 0x81), Some(3));
    assert_eq!(t.card.tries_left(AID, 0x82), Some(10));
    // Setting again in creation state replaces it and restores the counter.
    assert_eq!(t.verify(0x81, b"0000"), 0x63C2);
    assert_eq!(t.set_credential(0x81, PIN), 0x9000);
    assert!(t.card.credential_matches(AID, 0x81, PIN));
    assert_eq!(t.card.tries_left(AID, 0x81), Some(3));
    assert_eq!(t.activate(None), 0x9000);
    // Operational: refused.
    assert_eq!(t.set_credential(0x81, b"5555"), 0x6982);
    assert!(t.card.credential_matches(AID, 0x81, PIN));
}

#[test]
fn change_reference_data_p1_00() {
    let mut t = Tester::new();
    t.personalized();
    assert_eq!(t.select_name(AID), 0x9000);
    let change = |old: &[u8], new: &[u8]| apdu(0x24, 0x00, 0x81, &[old, new].concat(), None);
    // Wrong current PIN counts as a failed VERIFY.
    t.expect(&change(b"0000", b"5678"), 0x63C2);
    t.expect(&change(b"12", &[]), 0x63C1);
    t.expect(&apdu(0x24, 0x00, 0x81, &[], None), 0x6700);
    assert!(t.card.credential_matches(AID, 0x81, PIN));
    // Right current PIN, new one out of bounds: 6A80, counter restored, PIN unchanged.
    t.expect(&change(PIN, b"567"), 0x6A80);
    assert_eq!(t.card.tries_left(AID, 0x81), Some(3));
    assert!(t.card.credential_matches(AID, 0x81, PIN));
    // Success: new PIN set and verified in this session.
    t.expect(&change(PIN, b"56789012"), 0x9000);
    assert!(t.card.credential_matches(AID, 0x81, b"56789012"));
    assert_eq!(t.verify(0x81, &[]), 0x9000);
    assert_eq!(t.select(0x0102), 0x9000);
    assert_eq!(t.read(0, 1), (vec![0x22], 0x9000));
    // Blocked PIN cannot be changed.
    for _ in 0..3 {
        t.verify(0x81, b"0000");
    }
    t.expect(&change(b"56789012", b"1111"), 0x6983);
    // Unset credential: 6A88 (fresh DF).
    assert_eq!(t.select(0x3F00), 0x9000);
    assert_eq!(t.create(&df_fcp(0x2000, b"fresh")), 0x9000);
    t.expect(&change(PIN, b"1111"), 0x6A88);
}

#[test]
fn reset_retry_counter() {
    let mut t = Tester::new();
    t.personalized();
    assert_eq!(t.select_name(AID), 0x9000);
    for _ in 0..3 {
        t.verify(0x81, b"0000");
    }
    assert_eq!(t.verify(0x81, PIN), 0x6983);
    let rrc = |p1: u8, data: &[u8]| apdu(0x2C, p1, 0x81, data, None);
    // Wrong reset code: its own counter drops.
    t.expect(
        &rrc(0x00, &[b"00000000".as_slice(), b"4321"].concat()),
        0x63C9,
    );
    t.expect(&rrc(0x00, b"8765"), 0x63C8);
    assert_eq!(t.card.tries_left(AID, 0x82), Some(8));
    // Bad parameters.
    t.expect(&apdu(0x2C, 0x02, 0x81, RESET_CODE, None), 0x6A86);
    t.expect(&apdu(0x2C, 0x00, 0x82, RESET_CODE, None), 0x6A86);
    t.expect(&rrc(0x00, &[]), 0x6700);
    // Right reset code, new PIN too short: 6A80, reset-code counter restored.
    t.expect(&rrc(0x00, &[RESET_CODE, b"432"].concat()), 0x6A80);
    assert_eq!(t.card.tries_left(AID, 0x82), Some(10));
    assert_eq!(t.card.tries_left(AID, 0x81), Some(0));
    // Success: PIN set, counter restored, not verified.
    t.expect(&rrc(0x00, &[RESET_CODE, b"4321"].concat()), 0x9000);
    assert!(t.card.credential_matches(AID, 0x81, b"4321"));
    assert_eq!(t.card.tries_left(AID, 0x81), Some(3));
    assert_eq!(t.verify(0x81, &[]), 0x63C3);
    assert_eq!(t.verify(0x81, b"4321"), 0x9000);
    // P1 01: counter restored, PIN unchanged, verification dropped.
    t.verify(0x81, b"0000");
    t.verify(0x81, b"0000");
    t.expect(&rrc(0x01, &[RESET_CODE, b"9"].concat()), 0x63C9);
    t.expect(&rrc(0x01, RESET_CODE), 0x9000);
    assert_eq!(t.card.tries_left(AID, 0x81), Some(3));
    assert_eq!(t.card.tries_left(AID, 0x82), Some(10));
    assert!(t.card.credential_matches(AID, 0x81, b"4321"));
    // A blocked reset code blocks RESET RETRY COUNTER.
    for _ in 0..10 {
        let status = t.sw(&apdu(0x20, 0x00, 0x82, &[], None));
        t.expect(&rrc(0x01, b"00000000"), status - 1);
    }
    t.expect(&rrc(0x01, RESET_CODE), 0x6983);
    // MF: no credentials.
    assert_eq!(t.select(0x3F00), 0x9000);
    t.expect(&rrc(0x01, RESET_CODE), 0x6A88);
}

#[test]
fn reset_retry_counter_needs_the_reset_code_set() {
    let mut t = Tester::new();
    assert_eq!(t.create(&df_fcp(DF_FID, AID)), 0x9000);
    assert_eq!(t.set_credential(0x81, PIN), 0x9000);
    t.expect(
        &apdu(0x2C, 0x00, 0x81, &[RESET_CODE, b"4321"].concat(), None),
        0x6A88,
    );
    assert_eq!(t.set_credential(0x82, RESET_CODE), 0x9000);
    t.expect(
        &apdu(0x2C, 0x00, 0x81, &[RESET_CODE, b"4321"].concat(), None),
        0x9000,
    );
}

#[test]
fn delete_file_only_in_creation_state() {
    let mut t = Tester::new();
    t.personalizing();
    // The MF cannot be deleted.
    assert_eq!(t.select(0x3F00), 0x9000);
    assert_eq!(t.delete(None), 0x6985);
    assert_eq!(t.delete(Some(0x0999)), 0x6A82);
    // An EF by FID in the current DF; the parent becomes current.
    assert_eq!(t.select(DF_FID), 0x9000);
    assert_eq!(t.select(0x0101), 0x9000);
    assert_eq!(t.delete(Some(0x0103)), 0x9000);
    assert_eq!(t.card.file_content(AID, 0x0103), None);
    assert_eq!(t.read(0, 1), (vec![], 0x6986), "the DF is current");
    // The current EF.
    assert_eq!(t.select(0x0101), 0x9000);
    assert_eq!(t.delete(None), 0x9000);
    assert_eq!(t.select(0x0101), 0x6A82);
    // An activated EF cannot be deleted.
    assert_eq!(t.activate(Some(0x0102)), 0x9000);
    assert_eq!(t.delete(Some(0x0102)), 0x6985);
    // Bad P1-P2 / data.
    t.expect(&apdu(0xE4, 0x00, 0x01, &[], None), 0x6A86);
    t.expect(&apdu(0xE4, 0x00, 0x00, &[1], None), 0x6700);
    t.expect(&apdu(0xE4, 0x00, 0x00, &[1, 2, 3], None), 0x6700);
    // A DF in creation state, with everything under it; the MF becomes current.
    assert_eq!(t.delete(None), 0x9000);
    assert!(t.card.is_blank());
    assert_eq!(t.card.file_content(AID, 0x0102), None);
    assert_eq!(
        t.create(&ef_fcp(0x0101, 1, ALWAYS, ALWAYS)),
        0x6985,
        "MF is current"
    );
    // An activated DF cannot be deleted, by FID from the MF either.
    t.personalized();
    assert_eq!(t.select(0x3F00), 0x9000);
    assert_eq!(t.delete(Some(DF_FID)), 0x6985);
    assert_eq!(t.select(DF_FID), 0x9000);
    assert_eq!(t.delete(None), 0x6985);
    assert_eq!(t.card.life_cycle(AID, None), Some(0x05));
}

#[test]
fn activate_file_rules() {
    let mut t = Tester::new();
    // The MF is always operational.
    assert_eq!(t.activate(None), 0x9000);
    assert_eq!(t.create(&df_fcp(DF_FID, AID)), 0x9000);
    assert_eq!(t.create(&ef_fcp(0x0101, 4, ALWAYS, ALWAYS)), 0x9000);
    assert_eq!(t.select(DF_FID), 0x9000);
    // Needs its EFs activated and both credentials set.
    assert_eq!(t.activate(None), 0x6985);
    assert_eq!(t.activate(Some(0x0101)), 0x9000);
    assert_eq!(t.activate(Some(0x0101)), 0x9000, "idempotent");
    assert_eq!(t.card.life_cycle(AID, Some(0x0101)), Some(0x05));
    assert_eq!(t.activate(None), 0x6985);
    assert_eq!(t.set_credential(0x81, PIN), 0x9000);
    assert_eq!(t.activate(None), 0x6985);
    assert_eq!(t.set_credential(0x82, RESET_CODE), 0x9000);
    assert_eq!(t.card.life_cycle(AID, None), Some(0x01));
    assert_eq!(t.activate(None), 0x9000);
    assert_eq!(t.card.life_cycle(AID, None), Some(0x05));
    assert_eq!(t.activate(None), 0x9000, "idempotent");
    // By FID from the MF; unknown FID; bad P1-P2; bad data length.
    assert_eq!(t.select(0x3F00), 0x9000);
    assert_eq!(t.activate(Some(DF_FID)), 0x9000);
    assert_eq!(t.activate(Some(0x2000)), 0x6A82);
    t.expect(&apdu(0x44, 0x01, 0x00, &[], None), 0x6A86);
    t.expect(&apdu(0x44, 0x00, 0x00, &[1, 2, 3], None), 0x6700);
    // The FCP shows the life cycle.
    let (fcp, _) = t.send(&apdu(0xA4, 0x04, 0x04, AID, Some(0)));
    assert_eq!(&fcp[fcp.len() - 3..], [0x8A, 0x01, 0x05]);
}

#[test]
fn get_response_with_max_response() {
    let mut t = Tester::new();
    t.personalizing();
    assert_eq!(t.select(0x0102), 0x9000);
    let content: Vec<u8> = (0..300u16).map(|i| i as u8).collect();
    assert_eq!(t.sw(&apdu_ext(0xD6, 0, 0, &content, None)), 0x9000);
    // Nothing pending.
    t.expect(&apdu(0xC0, 0, 0, &[], Some(0)), 0x6985);
    t.card.set_max_response(Some(100));
    let (first, sw) = t.read(0, 0);
    assert_eq!((first.as_slice(), sw), (&content[..100], 0x619C));
    // Bad GET RESPONSE keeps the data pending.
    t.expect(&apdu(0xC0, 0, 1, &[], Some(0)), 0x6A86);
    t.expect(&apdu(0xC0, 0, 0, &[], None), 0x6700);
    let (second, sw) = t.send(&apdu(0xC0, 0, 0, &[], Some(0)));
    assert_eq!((second.as_slice(), sw), (&content[100..200], 0x6138));
    // Le smaller than what is left.
    let (third, sw) = t.send(&apdu(0xC0, 0, 0, &[], Some(0x10)));
    assert_eq!((third.as_slice(), sw), (&content[200..216], 0x6128));
    let (last, sw) = t.send(&apdu(0xC0, 0, 0, &[], Some(0)));
    assert_eq!((last.as_slice(), sw), (&content[216..256], 0x9000));
    t.expect(&apdu(0xC0, 0, 0, &[], Some(0)), 0x6985);
    // 61 00 when 256 or more remain; any other command drops the pending data.
    t.card.set_max_response(Some(10));
    let (_, sw) = t.send(&apdu_ext(0xB0, 0, 0, &[], Some(300)));
    assert_eq!(sw, 0x6100);
    assert_eq!(t.read(0, 1), (vec![0], 0x9000));
    t.expect(&apdu(0xC0, 0, 0, &[], Some(0)), 0x6985);
    // SELECT with FCP is chained too.
    let (fcp, sw) = t.send(&apdu(0xA4, 0x00, 0x04, &[0x01, 0x02], Some(0)));
    assert_eq!((fcp.len(), sw), (10, 0x610B));
    let (rest, sw) = t.send(&apdu(0xC0, 0, 0, &[], Some(0)));
    assert_eq!((rest.len(), sw), (10, 0x6101));
    let (tail, sw) = t.send(&apdu(0xC0, 0, 0, &[], Some(0)));
    assert_eq!((tail.len(), sw), (1, 0x9000));
    // No limit again.
    t.card.set_max_response(None);
    let (all, sw) = t.send(&apdu_ext(0xB0, 0, 0, &[], Some(300)));
    assert_eq!((all, sw), (content, 0x9000));
}

#[test]
fn extended_and_malformed_lengths() {
    let mut t = Tester::new();
    assert_eq!(t.create(&df_fcp(DF_FID, AID)), 0x9000);
    assert_eq!(t.create(&ef_fcp(0x0101, 2048, ALWAYS, ALWAYS)), 0x9000);
    // 1024 bytes extended is the maximum.
    assert_eq!(t.sw(&apdu_ext(0xD6, 0, 0, &[0xAB; 1024], None)), 0x9000);
    assert_eq!(t.sw(&apdu_ext(0xD6, 0, 0, &[0xAB; 1025], None)), 0x6700);
    let (data, sw) = t.send(&apdu_ext(0xB0, 0, 0, &[], Some(1024)));
    assert_eq!((data, sw), (vec![0xAB; 1024], 0x9000));
    // Lc / data mismatches.
    t.expect(&[0x00, 0xD6, 0x00, 0x00, 0x05, 1, 2, 3], 0x6700);
    t.expect(&[0x00, 0xD6, 0x00, 0x00, 0x02, 1, 2, 3, 4], 0x6700);
    t.expect(&[0x00, 0xD6, 0x00, 0x00, 0x00, 0x00], 0x6700);
    t.expect(&[0x00, 0xD6, 0x00, 0x00, 0x00, 0x00, 0x03, 1], 0x6700);
    t.expect(&[0x00, 0xD6], 0x6700);
    t.expect(&[], 0x6700);
    assert_eq!(t.card.file_content(AID, 0x0101).unwrap()[..4], [0xAB; 4]);
}

#[test]
fn state_round_trip_keeps_persistent_and_drops_volatile_state() {
    let mut t = Tester::new();
    t.personalized();
    assert_eq!(t.select_name(AID), 0x9000);
    assert_eq!(t.verify(0x81, b"0000"), 0x63C2);
    assert_eq!(t.verify(0x81, PIN), 0x9000);
    assert_eq!(t.verify(0x82, b"00000000"), 0x63C9);
    let state = t.card.to_state();
    assert!(
        !String::from_utf8_lossy(&state).contains("\"1234\""),
        "the state is structured, not a dump"
    );
    let mut restored = Tester {
        card: Card::from_state(&state).unwrap(),
    };
    assert_eq!(restored.card.to_state(), state);
    assert_eq!(restored.card.tries_left(AID, 0x81), Some(3));
    assert_eq!(restored.card.tries_left(AID, 0x82), Some(9));
    assert_eq!(restored.card.life_cycle(AID, Some(0x0102)), Some(0x05));
    assert_eq!(
        restored.card.file_content(AID, 0x0101).unwrap()[..8],
        [0x11; 8]
    );
    assert!(restored.card.credential_matches(AID, 0x82, RESET_CODE));
    // Volatile state is fresh: the MF is current and nothing is verified.
    assert_eq!(restored.select(0x0102), 0x6A82);
    assert_eq!(restored.select_name(AID), 0x9000);
    assert_eq!(restored.verify(0x81, &[]), 0x63C3);
}

#[test]
fn bad_states_are_refused() {
    assert!(Card::from_state(b"").is_err());
    assert!(Card::from_state(b"[1,2]").is_err());
    let mut t = Tester::new();
    t.personalized();
    let state = String::from_utf8(t.card.to_state()).unwrap();
    let wrong_version = state.replace("\"version\": 1", "\"version\": 2");
    let err = Card::from_state(wrong_version.as_bytes()).unwrap_err();
    assert!(err.to_string().contains("version 2"), "{err}");
    // An activated DF without its PIN is inconsistent.
    let mut value: serde_json::Value = serde_json::from_str(&state).unwrap();
    value["file_system"]["dfs"][0]["holder_pin"] = serde_json::Value::Null;
    let err = Card::from_state(value.to_string().as_bytes()).unwrap_err();
    assert!(err.to_string().contains("inconsistent"), "{err}");
    // A credential value is never echoed in an error.
    let mut value: serde_json::Value = serde_json::from_str(&state).unwrap();
    value["file_system"]["dfs"][0]["holder_pin"]["value"] = serde_json::json!(31323334);
    let err = Card::from_state(value.to_string().as_bytes()).unwrap_err();
    assert!(!err.to_string().contains("31323334"), "{err}");
}

#[test]
fn state_revision_moves_only_on_persistent_changes() {
    let mut t = Tester::new();
    t.personalized();
    let before = t.card.state_revision();
    assert_eq!(t.select_name(AID), 0x9000);
    assert_eq!(t.verify(0x81, PIN), 0x9000);
    assert_eq!(t.select(0x0101), 0x9000);
    let _ = t.read(0, 1);
    assert_eq!(t.activate(None), 0x9000);
    assert_eq!(t.card.state_revision(), before);
    assert_eq!(t.verify(0x81, b"0000"), 0x63C2);
    assert_ne!(t.card.state_revision(), before);
}

trait CredentialsHelper {
    fn personalizing_credentials(&mut self);
}

impl CredentialsHelper for Tester {
    fn personalizing_credentials(&mut self) {
        assert_eq!(self.set_credential(0x81, PIN), 0x9000);
        assert_eq!(self.set_credential(0x82, RESET_CODE), 0x9000);
    }
}
