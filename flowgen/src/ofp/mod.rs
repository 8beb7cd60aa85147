//! OpenFlow, as Open vSwitch speaks it: a typed model of flows, their `ovs-ofctl` text (printed exactly like
//! `ovs-ofctl -O OpenFlow15 dump-flows --no-stats`, and parsed back), their OpenFlow 1.5 + Nicira wire
//! encoding, and a small async connection that programs a bridge through its management socket.
//!
//! ```text
//!  flowgen passes ──▶ Flow { table, priority, cookie, Match, Vec<Action> }
//!                        │ Display / FromStr (text.rs, parse.rs)      ovs-ofctl syntax, both ways
//!                        │ wire::flow_mod (wire.rs)                   OFPT_FLOW_MOD, OXM/NXM, NXAST
//!                        ▼
//!                  conn::Connection ──unix:$OVS_RUNDIR/br-int.mgmt──▶ ovs-vswitchd (bundles, barrier)
//! ```
//!
//! * [`field`]: the one table of fields (names, code points, widths, print order).
//! * [`matching`]: [`Match`], normalised the way the switch stores and prints it.
//! * [`action`]: [`Action`] and its parts.
//! * [`text`] / [`parse`]: the `ovs-ofctl` text form.
//! * [`wire`]: OpenFlow 1.5 encoding (flow mods, bundles, ...) and decoding of what a switch sends back.
//! * [`conn`]: HELLO/echo/features, flow mods in an atomic bundle, errors mapped to the offending flow.

pub mod action;
pub mod conn;
pub mod field;
pub mod matching;
pub mod parse;
pub mod text;
pub mod wire;

pub use action::{Action, Controller, Ct, CtZone, Nat, NatKind, Port, Reason, Subfield};
pub use conn::Connection;
pub use field::{Field, Format};
pub use matching::{Masked, Match, Proto};
pub use text::DEFAULT_PRIORITY;
pub use wire::{Command, OfError};

/// One OpenFlow flow: where it lives, what it matches, what it does.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Flow {
    /// Flow table (0..=253: Open vSwitch keeps 254 for itself and refuses it with OFPBRC_EPERM).
    pub table: u8,
    /// Priority; higher wins. `ovs-ofctl` omits the default, 32768, when printing.
    pub priority: u16,
    /// Opaque cookie (OVN puts part of the logical flow's UUID here).
    pub cookie: u64,
    /// The match.
    pub matches: Match,
    /// The actions (applied with `OFPIT_APPLY_ACTIONS`); empty means drop.
    pub actions: Vec<Action>,
}

impl Flow {
    /// A flow matching everything and dropping, in `table` at `priority`.
    pub fn new(table: u8, priority: u16) -> Flow {
        Flow { table, priority, cookie: 0, matches: Match::new(), actions: Vec::new() }
    }

    /// Sets the match.
    pub fn with_match(mut self, m: Match) -> Flow {
        self.matches = m;
        self
    }

    /// Sets the actions.
    pub fn with_actions(mut self, actions: Vec<Action>) -> Flow {
        self.actions = actions;
        self
    }

    /// Sets the cookie.
    pub fn with_cookie(mut self, cookie: u64) -> Flow {
        self.cookie = cookie;
        self
    }
}

/// Everything that can go wrong in this module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Text that is not `ovs-ofctl` flow syntax.
    #[error("cannot parse `{text}`: {msg}")]
    Parse {
        /// The offending text.
        text: String,
        /// What is wrong with it.
        msg: String,
    },
    /// A field name nobody knows.
    #[error("unknown field `{0}`")]
    UnknownField(String),
    /// A field that does not exist (`reg16`).
    #[error("no such field: {0}")]
    BadField(String),
    /// A value or mask wider than its field.
    #[error("value does not fit in {field} ({bits} bits)")]
    TooWide {
        /// The field.
        field: String,
        /// Its width.
        bits: u16,
    },
    /// A mask on a field that cannot be masked.
    #[error("{0} cannot be matched with a mask")]
    NotMaskable(String),
    /// Bits outside a field.
    #[error("bad subfield {0}")]
    BadSubfield(String),
    /// A flow that cannot be put on the wire.
    #[error("cannot encode: {0}")]
    Encode(String),
    /// A message from the switch that does not parse.
    #[error("malformed OpenFlow message: {0}")]
    Decode(String),
    /// Socket trouble.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The switch does not offer OpenFlow 1.5 (`protocols` on the bridge).
    #[error("the switch does not speak OpenFlow 1.5 (it offered version bitmap {0:#x}); set protocols=OpenFlow15 on the bridge")]
    Version(u32),
    /// An error message from the switch that is not about one of our flows.
    #[error("switch error: {0}")]
    Switch(OfError),
    /// The switch refused a flow; nothing in the batch was installed.
    #[error("switch refused flow #{index} `{flow}`: {error}")]
    FlowRefused {
        /// Position of the flow in the batch.
        index: usize,
        /// The flow, as `ovs-ofctl` text.
        flow: String,
        /// What the switch said.
        error: OfError,
    },
    /// The switch closed the connection.
    #[error("the switch closed the connection")]
    Closed,
    /// No answer in time.
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
}
