//! A Kube-OVN-like Northbound network of any size, written in one transaction: the input of the scale
//! benchmarks.
//!
//! ```text
//!   S switches sw<i> (10.<i>.0.0/16), P VIF ports each ──┐
//!                                                       ├── router ovn-cluster ── lr-ext (172.16.0.1/16,
//!   external switch ext with a localnet port ───────────┘      gateway chassis gw1 > gw2 > gw3)
//!   one SNAT per switch, a default route, F dnat_and_snat FIPs on the first F ports
//! ```

use model::nb::table;
use model::ovsdb::transact::{RowData, Transaction};
use model::ovsdb::{Atom, Datum};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    pub switches: u32,
    pub ports: u32,
    pub fips: u32,
}

fn row(cols: &[(&str, Datum)]) -> RowData {
    cols.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

/// The name, MAC and IP of VIF `p` of switch `s`.
pub fn vif(s: u32, p: u32) -> (String, String, String) {
    (
        format!("sw{s}-p{p}"),
        format!("0a:00:{:02x}:{:02x}:{:02x}:{:02x}", s >> 8, s & 0xff, p >> 8, p & 0xff),
        format!("10.{s}.{}.{}", p / 250, p % 250 + 2),
    )
}

/// The external IP of FIP `f`.
pub fn fip_ip(f: u32) -> String {
    format!("172.16.{}.{}", 100 + f / 250, f % 250 + 1)
}

/// The transaction that creates the network (into an empty Northbound).
pub fn network(size: Size) -> Result<Transaction, String> {
    if size.switches == 0 || size.switches > 250 || size.ports > 60_000 {
        return Err(format!("{size:?}: between 1 and 250 switches, at most 60000 ports each"));
    }
    let mut t = Transaction::new();
    let mut lr_ports = Vec::new();
    let mut nats = Vec::new();
    let mut switches = Vec::new();
    for s in 0..size.switches {
        let rp_name = format!("lr-sw{s}");
        lr_ports.push(t.insert(
            table::LOGICAL_ROUTER_PORT,
            row(&[
                ("name", Datum::atom(rp_name.as_str())),
                ("mac", Datum::atom(format!("00:00:0a:{:02x}:{:02x}:01", s >> 8, s & 0xff))),
                ("networks", Datum::atom(format!("10.{s}.0.1/16"))),
            ]),
        ));
        let mut ports = vec![t.insert(
            table::LOGICAL_SWITCH_PORT,
            row(&[
                ("name", Datum::atom(format!("sw{s}-lr"))),
                ("type", Datum::atom("router")),
                ("addresses", Datum::atom("router")),
                ("options", Datum::map([("router-port", rp_name.as_str())])),
            ]),
        )];
        for p in 0..size.ports {
            let (name, mac, ip) = vif(s, p);
            ports.push(t.insert(
                table::LOGICAL_SWITCH_PORT,
                row(&[("name", Datum::atom(name)), ("addresses", Datum::atom(format!("{mac} {ip}")))]),
            ));
        }
        switches.push((format!("sw{s}"), ports));
        nats.push(t.insert(
            table::NAT,
            row(&[
                ("type", Datum::atom("snat")),
                ("external_ip", Datum::atom(format!("172.16.0.{}", 10 + s))),
                ("logical_ip", Datum::atom(format!("10.{s}.0.0/16"))),
            ]),
        ));
    }
    for f in 0..size.fips {
        let (s, p) = (f % size.switches, f / size.switches);
        if p >= size.ports {
            break;
        }
        let (_, _, ip) = vif(s, p);
        nats.push(t.insert(
            table::NAT,
            row(&[("type", Datum::atom("dnat_and_snat")), ("external_ip", Datum::atom(fip_ip(f))), ("logical_ip", Datum::atom(ip))]),
        ));
    }
    let gcs: Vec<Atom> = [("gw1", 3), ("gw2", 2), ("gw3", 1)]
        .iter()
        .map(|(c, prio)| {
            t.insert(
                table::GATEWAY_CHASSIS,
                row(&[
                    ("name", Datum::atom(format!("lr-ext-{c}"))),
                    ("chassis_name", Datum::atom(*c)),
                    ("priority", Datum::atom(*prio as i64)),
                ]),
            )
        })
        .collect();
    lr_ports.push(t.insert(
        table::LOGICAL_ROUTER_PORT,
        row(&[
            ("name", Datum::atom("lr-ext")),
            ("mac", Datum::atom("00:00:ac:10:00:01")),
            ("networks", Datum::atom("172.16.0.1/16")),
            ("gateway_chassis", Datum::Set(gcs.into_iter().collect())),
        ]),
    ));
    let ext_ports = vec![
        t.insert(
            table::LOGICAL_SWITCH_PORT,
            row(&[
                ("name", Datum::atom("ext-lr")),
                ("type", Datum::atom("router")),
                ("addresses", Datum::atom("router")),
                ("options", Datum::map([("router-port", "lr-ext")])),
            ]),
        ),
        t.insert(
            table::LOGICAL_SWITCH_PORT,
            row(&[
                ("name", Datum::atom("ln-ext")),
                ("type", Datum::atom("localnet")),
                ("addresses", Datum::atom("unknown")),
                ("options", Datum::map([("network_name", "physnet")])),
            ]),
        ),
    ];
    switches.push(("ext".to_string(), ext_ports));
    for (name, ports) in switches {
        t.insert(table::LOGICAL_SWITCH, row(&[("name", Datum::atom(name)), ("ports", Datum::Set(ports.into_iter().collect()))]));
    }
    let route = t.insert(table::STATIC_ROUTE, row(&[("ip_prefix", Datum::atom("0.0.0.0/0")), ("nexthop", Datum::atom("172.16.255.254"))]));
    t.insert(
        table::LOGICAL_ROUTER,
        row(&[
            ("name", Datum::atom("ovn-cluster")),
            ("ports", Datum::Set(lr_ports.into_iter().collect())),
            ("nat", Datum::Set(nats.into_iter().collect())),
            ("static_routes", Datum::atom(route)),
        ]),
    );
    Ok(t)
}
