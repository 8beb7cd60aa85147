//! Port groups and address sets, as ovn-northd writes them to the Southbound: a port group becomes one
//! `Port_Group` per datapath it has ports on, named `<datapath tunnel key>_<group>` (so `@group` in a
//! datapath's flows means the group's ports there), plus the address sets `<group>_ip4` and
//! `<group>_ip6` of its ports' addresses; a Northbound address set is copied as it is.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use model::addr::LspAddress;
use model::ovsdb::{Datum, Uuid};

use super::engine::Out;
use super::index::Reader;
use crate::named_rows::{ADDRESS_SET, PORT_GROUP};

fn set(items: &BTreeSet<String>) -> Datum {
    Datum::set(items.iter().map(String::as_str))
}

pub fn port_group_unit(r: &mut Reader<'_>, u: Uuid, sb: &mut Out) {
    let Some(pg) = r.port_group(u) else { return };
    let mut per_datapath: BTreeMap<Uuid, BTreeSet<String>> = BTreeMap::new();
    let (mut v4, mut v6) = (BTreeSet::new(), BTreeSet::new());
    for p in &pg.ports {
        let Some(lsp) = r.switch_port(*p) else { continue };
        if let Some(ls) = r.owner(*p) {
            per_datapath.entry(ls).or_default().insert(lsp.name.clone());
        }
        for a in &lsp.addresses {
            if let LspAddress::Static { ips, .. } = a {
                for ip in ips {
                    match ip {
                        IpAddr::V4(v) => v4.insert(v.to_string()),
                        IpAddr::V6(v) => v6.insert(v.to_string()),
                    };
                }
            }
        }
    }
    for (dp, ports) in per_datapath {
        if let Some(key) = r.datapath_key(dp) {
            sb.named(&PORT_GROUP, format!("{key}_{}", pg.name), vec![set(&ports)]);
        }
    }
    sb.named(&ADDRESS_SET, format!("{}_ip4", pg.name), vec![set(&v4)]);
    sb.named(&ADDRESS_SET, format!("{}_ip6", pg.name), vec![set(&v6)]);
}

pub fn address_set_unit(r: &mut Reader<'_>, u: Uuid, sb: &mut Out) {
    let Some(a) = r.address_set(u) else { return };
    sb.named(&ADDRESS_SET, a.name.clone(), vec![set(&a.addresses.iter().cloned().collect())]);
}
