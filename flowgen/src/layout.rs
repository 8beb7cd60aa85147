//! The OpenFlow table layout of `br-int`: where each part of the pipeline lives. One place for these
//! numbers; the compiler (next/output/get_arp/...) and the controller's physical flows both read them.
//!
//! ```text
//!   0  PHY_TO_LOG        packets from VIFs, tunnels, patch ports -> metadata=datapath, reg14=inport
//!   8  LOG_INGRESS + N   logical ingress table N (switches have 27, routers 22)
//!  37  REMOTE_OUTPUT     outport on another chassis -> tunnel; multicast groups
//!  38  LOCAL_OUTPUT      outport here -> egress pipeline
//!  39  CHECK_LOOPBACK    drop a packet going back out its inport (unless flags.loopback)
//!  40  LOG_EGRESS + N    logical egress table N (switches have 10, routers 7)
//!  64  SAVE_INPORT       clear inport unless loopback is allowed, then
//!  65  LOG_TO_PHY        outport -> OpenFlow port, or patch to the peer datapath's ingress
//!  66  MAC_BINDING       get_arp/get_nd: reg15 + reg0/xxreg0 -> eth.dst
//!  67  MAC_LOOKUP        lookup_arp/lookup_nd: is (port, IP, MAC) known?
//!  68  MAC_LOOKUP_IP     lookup_arp_ip: is (port, IP) known?
//!  71  GET_FDB / 72 LOOKUP_FDB
//!  73  CHK_IN_PORT_SEC   check_in_port_sec(): may the packet come from inport? (ARP/ND go on to 74)
//!  74  CHK_IN_PORT_SEC_ND  ... its ARP and neighbour discovery fields
//!  75  CHK_OUT_PORT_SEC  check_out_port_sec(): may the packet go to outport?
//! ```
//! 73-75 are OVN 23.03's numbers (`ovs-ofctl dump-flows br-int table=73` etc. under its `ovn-controller`), so
//! flow dumps and traces read the same on both controllers.

pub const PHY_TO_LOG: u8 = 0;
pub const LOG_INGRESS: u8 = 8;
pub const REMOTE_OUTPUT: u8 = 37;
pub const LOCAL_OUTPUT: u8 = 38;
pub const CHECK_LOOPBACK: u8 = 39;
pub const LOG_EGRESS: u8 = 40;
pub const SAVE_INPORT: u8 = 64;
pub const LOG_TO_PHY: u8 = 65;
pub const MAC_BINDING: u8 = 66;
pub const MAC_LOOKUP: u8 = 67;
pub const MAC_LOOKUP_IP: u8 = 68;
pub const GET_FDB: u8 = 71;
pub const LOOKUP_FDB: u8 = 72;
pub const CHK_IN_PORT_SEC: u8 = 73;
pub const CHK_IN_PORT_SEC_ND: u8 = 74;
pub const CHK_OUT_PORT_SEC: u8 = 75;

/// Logical ingress/egress pipelines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Pipeline {
    Ingress,
    Egress,
}

impl Pipeline {
    /// The OpenFlow table of logical table `n` of this pipeline.
    pub fn table(self, n: u8) -> u8 {
        match self {
            Pipeline::Ingress => LOG_INGRESS + n,
            Pipeline::Egress => LOG_EGRESS + n,
        }
    }

    /// How many logical tables the pipeline may have.
    pub fn max_tables(self) -> u8 {
        match self {
            Pipeline::Ingress => REMOTE_OUTPUT - LOG_INGRESS,
            Pipeline::Egress => SAVE_INPORT - LOG_EGRESS,
        }
    }

    pub fn parse(s: &str) -> Option<Pipeline> {
        match s {
            "ingress" => Some(Pipeline::Ingress),
            "egress" => Some(Pipeline::Egress),
            _ => None,
        }
    }
}
