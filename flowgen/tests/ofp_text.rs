//! Property tests of the `ovs-ofctl` text form and the wire encoder: every generated flow prints, parses
//! back to the same flow, prints the same again, and encodes as a FLOW_MOD whose length fields add up.

mod ofp_gen;

use flowgen::ofp::wire::{self, Command, Header};
use flowgen::ofp::Flow;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn text_round_trip(flow in ofp_gen::flow()) {
        let text = flow.to_string();
        let back: Flow = text.parse().map_err(|e| TestCaseError::fail(format!("`{text}`: {e}")))?;
        prop_assert_eq!(&back, &flow, "{}", text);
        prop_assert_eq!(back.to_string(), text);
    }

    /// Garbage in is an error, never a panic (a daemon never dies on data).
    #[test]
    fn parsing_garbage_does_not_panic(s in "[a-z_0-9=,:()\\[\\]./+|>-]{0,80}", t in ".{0,40}") {
        let _ = s.parse::<Flow>();
        let _ = format!("actions={s}").parse::<Flow>();
        let _ = format!("{s} actions={t}").parse::<Flow>();
        let _ = flowgen::ofp::parse::parse_actions(&s);
    }

    #[test]
    fn decoding_garbage_does_not_panic(mut b in proptest::collection::vec(any::<u8>(), 8..200), kind in 0u8..40) {
        b[0] = 6;
        b[1] = kind;
        let len = b.len() as u16;
        b[2..4].copy_from_slice(&len.to_be_bytes());
        let _ = wire::decode(&b);
        if b.len() >= 16 {
            // As a Nicira packet-in2 too.
            b[1] = wire::msg::EXPERIMENTER;
            b[8..12].copy_from_slice(&wire::NX_VENDOR_ID.to_be_bytes());
            b[12..16].copy_from_slice(&30u32.to_be_bytes());
            let _ = wire::decode(&b);
        }
    }

    #[test]
    fn flow_mods_encode(flow in ofp_gen::flow(), xid in any::<u32>()) {
        for cmd in [Command::Add, Command::ModifyStrict, Command::DeleteStrict] {
            let b = wire::flow_mod(xid, cmd, &flow).map_err(|e| TestCaseError::fail(format!("`{flow}`: {e}")))?;
            let h = Header::parse(&b).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(usize::from(h.length), b.len());
            prop_assert_eq!((h.version, h.kind, h.xid), (6, wire::msg::FLOW_MOD, xid));
            prop_assert_eq!(b.len() % 8, 0);
            // The match's length field, then its padding, then the instructions (if any) fill the rest.
            let match_len = usize::from(u16::from_be_bytes([b[50], b[51]]));
            let after_match = 48 + match_len.div_ceil(8) * 8;
            prop_assert!(after_match <= b.len());
            if after_match < b.len() {
                let inst_len = usize::from(u16::from_be_bytes([b[after_match + 2], b[after_match + 3]]));
                prop_assert_eq!(after_match + inst_len, b.len());
            }
        }
    }
}
