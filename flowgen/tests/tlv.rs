//! The Geneve option OVN uses for logical ports (class 0x0102, type 0x80, 4 bytes) mapped to
//! `tun_metadata0` by our `NXT_TLV_TABLE_MOD`, as `ovs-ofctl dump-tlv-map` shows it.

use flowgen::ofp::{wire, Connection};
use tests::Vswitch;

#[test]
fn maps_the_geneve_option() {
    let sw = Vswitch::start("br-int");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let mut c = Connection::connect(&sw.ofctl_target()).await.expect("connect");
        let xid = c.alloc_xid();
        c.send(&wire::tlv_table_add(xid, 0x0102, 0x80, 4, 0)).await.expect("send");
        let errors = c.barrier().await.expect("barrier");
        assert!(errors.is_empty(), "{errors:?}");
    });
    let map = sw.ofctl("dump-tlv-map", &[]).ok().stdout;
    assert!(map.lines().any(|l| l.contains("0x102") && l.contains("0x80") && l.contains("tun_metadata0")), "{map}");
}
