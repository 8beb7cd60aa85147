//! The chassis' own configuration, read from the local `Open_vSwitch` row's `external_ids`, as
//! `ovn-controller(8)` documents it (section CONFIGURATION).
//!
//! The operator (or a CNI plugin, or our test harness) writes these keys with `ovs-vsctl set open .
//! external_ids:KEY=VALUE`; everything else the agent does is derived from them and the Southbound. They are
//! parsed once, here, into a [`LocalConfig`], so the planning code never meets a malformed value: a bad value
//! is an error naming the key and the value, which the daemon logs and retries after the next change of the
//! row (an operator fixing a typo must not have to restart anything).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use model::ovsdb::Replica;

use crate::tables::{ovs, string_map};

/// The integration bridge's name when `external_ids:ovn-bridge` is not set.
pub const DEFAULT_BRIDGE: &str = "br-int";

/// A tunnel encapsulation OVN can use between chassis (the `Encap.type` enum of `ovn-sb(5)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EncapType {
    Geneve,
    Stt,
    Vxlan,
}

impl EncapType {
    /// Every type, most preferred first: when a remote chassis offers several encapsulations, the tunnel to
    /// it uses the first of these that both sides have (Geneve carries the most metadata, VXLAN the least:
    /// see `ovn-architecture(7)`, "Tunnel Encapsulations").
    pub const PREFERENCE: [EncapType; 3] = [EncapType::Geneve, EncapType::Stt, EncapType::Vxlan];

    /// The name in `Encap.type` and `Interface.type`.
    pub fn as_str(self) -> &'static str {
        match self {
            EncapType::Geneve => "geneve",
            EncapType::Stt => "stt",
            EncapType::Vxlan => "vxlan",
        }
    }
}

impl fmt::Display for EncapType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EncapType {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<EncapType, ConfigError> {
        match s {
            "geneve" => Ok(EncapType::Geneve),
            "stt" => Ok(EncapType::Stt),
            "vxlan" => Ok(EncapType::Vxlan),
            _ => Err(ConfigError::BadEncapType { value: s.to_string() }),
        }
    }
}

/// Why the local configuration cannot be used. Each names the key (and the value) to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("the Open_vSwitch table has no row (run `ovs-vsctl init`)")]
    NoOpenVswitchRow,
    #[error("Open_vSwitch external_ids:{key} is not set ({hint})")]
    Missing { key: &'static str, hint: &'static str },
    #[error("Open_vSwitch external_ids:ovn-encap-type: unsupported encapsulation {value:?} (expected geneve, stt or vxlan)")]
    BadEncapType { value: String },
    #[error("Open_vSwitch external_ids:ovn-encap-ip: {value:?} is not an IP address")]
    BadEncapIp { value: String },
    #[error("Open_vSwitch external_ids:ovn-bridge-mappings: bad entry {entry:?} (expected NETWORK:BRIDGE)")]
    BadBridgeMapping { entry: String },
    #[error("Open_vSwitch external_ids:ovn-bridge-mappings: network {network:?} is mapped to two bridges")]
    DuplicateBridgeMapping { network: String },
    #[error("Open_vSwitch external_ids:{key}: {value:?} is neither true nor false")]
    BadBool { key: &'static str, value: String },
}

/// What this chassis is and how it is reached, from `Open_vSwitch.external_ids` (plus the few facts about
/// the switch the Southbound `Chassis` row reports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalConfig {
    /// `system-id`: the chassis name (`Chassis.name`), required.
    pub system_id: String,
    /// `hostname`, else the machine's host name.
    pub hostname: String,
    /// `ovn-remote`: the Southbound's remote(s), as given.
    pub remote: Option<String>,
    /// `ovn-encap-type`: never empty (default `geneve`). The first is the one we register in our `Encap`
    /// row; tunnels to other chassis may use any of them.
    pub encap_types: Vec<EncapType>,
    /// `ovn-encap-ip` (the first, when a list is given), checked to be an IP address.
    pub encap_ip: String,
    /// `ovn-encap-csum` (default true): whether senders should checksum their tunnel packets to us.
    pub encap_csum: bool,
    /// `ovn-bridge-mappings`: physical network name -> bridge name.
    pub bridge_mappings: BTreeMap<String, String>,
    /// `ovn-bridge-mappings` exactly as configured (reported in `Chassis.other_config`).
    pub bridge_mappings_text: String,
    /// `ovn-bridge` (default `br-int`).
    pub integration_bridge: String,
    /// `ovn-bridge-datapath-type`: when set, the integration bridge's `datapath_type` is forced to it; when
    /// not, an existing bridge's type is left alone (`ovn-controller(8)`).
    pub bridge_datapath_type: Option<String>,
    /// The integration bridge's current `datapath_type` (None when the bridge does not exist yet). Reported
    /// in `Chassis.other_config:datapath-type` when none is configured.
    pub observed_datapath_type: Option<String>,
    /// `ovn-transport-zones`: tunnels are made only to chassis sharing one of these (both empty: the
    /// default zone).
    pub transport_zones: BTreeSet<String>,
    /// `ovn-cms-options`, passed through to the `Chassis` row for the CMS.
    pub cms_options: String,
    /// `ovn-chassis-mac-mappings`, passed through to the `Chassis` row.
    pub chassis_mac_mappings: String,
    /// `ovn-monitor-all` (default false).
    pub monitor_all: bool,
    /// `ovn-is-interconn` (default false): this chassis is an interconnection gateway.
    pub is_interconn: bool,
    /// `Open_vSwitch.iface_types`: the interface types this switch supports, reported to the Southbound.
    pub iface_types: Vec<String>,
}

impl LocalConfig {
    /// Reads the configuration from the `Open_vSwitch` table's single row. A missing `hostname` key falls
    /// back to the machine's host name (the only I/O here: see [`system_hostname`]).
    pub fn from_ovs(ovs_db: &Replica) -> Result<LocalConfig, ConfigError> {
        let has_hostname = ovs_db
            .table(ovs::OPEN_VSWITCH)
            .next()
            .and_then(|r| r.get("external_ids").get("hostname").and_then(|a| a.as_str()).map(|h| !h.is_empty()))
            .unwrap_or(false);
        let fallback = if has_hostname { String::new() } else { system_hostname() };
        Self::from_ovs_with_hostname(ovs_db, &fallback)
    }

    /// [`LocalConfig::from_ovs`] with the host name to use when `external_ids:hostname` is not set given by
    /// the caller: a pure function, for tests.
    pub fn from_ovs_with_hostname(ovs_db: &Replica, default_hostname: &str) -> Result<LocalConfig, ConfigError> {
        let row = ovs_db.table(ovs::OPEN_VSWITCH).next().ok_or(ConfigError::NoOpenVswitchRow)?;
        let ids = string_map(row, "external_ids");
        let get = |k: &str| ids.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());

        let system_id = get("system-id")
            .ok_or(ConfigError::Missing { key: "system-id", hint: "the chassis name: ovs-vsctl set open . external_ids:system-id=NAME" })?
            .to_string();
        let encap_ip_text = get("ovn-encap-ip").ok_or(ConfigError::Missing {
            key: "ovn-encap-ip",
            hint: "the IP other chassis tunnel to: ovs-vsctl set open . external_ids:ovn-encap-ip=ADDRESS",
        })?;
        let encap_ip = first_of_list(encap_ip_text).unwrap_or(encap_ip_text).to_string();
        if encap_ip.parse::<IpAddr>().is_err() {
            return Err(ConfigError::BadEncapIp { value: encap_ip });
        }
        let mut encap_types = Vec::new();
        for t in list(get("ovn-encap-type").unwrap_or("geneve")) {
            let t: EncapType = t.parse()?;
            if !encap_types.contains(&t) {
                encap_types.push(t);
            }
        }
        if encap_types.is_empty() {
            encap_types.push(EncapType::Geneve);
        }
        let bridge_mappings_text = get("ovn-bridge-mappings").unwrap_or("").to_string();
        let bridge_mappings = parse_bridge_mappings(&bridge_mappings_text)?;
        let integration_bridge = get("ovn-bridge").unwrap_or(DEFAULT_BRIDGE).to_string();
        let observed_datapath_type =
            ovs_db.table(ovs::BRIDGE).find(|b| b.str("name") == integration_bridge).map(|b| b.str("datapath_type").to_string());

        Ok(LocalConfig {
            hostname: get("hostname").unwrap_or(default_hostname).to_string(),
            remote: get("ovn-remote").map(str::to_string),
            encap_types,
            encap_ip,
            encap_csum: parse_bool("ovn-encap-csum", get("ovn-encap-csum"), true)?,
            bridge_mappings,
            bridge_mappings_text,
            bridge_datapath_type: get("ovn-bridge-datapath-type").map(str::to_string),
            observed_datapath_type,
            integration_bridge,
            transport_zones: list(get("ovn-transport-zones").unwrap_or("")).map(str::to_string).collect(),
            cms_options: get("ovn-cms-options").unwrap_or("").to_string(),
            chassis_mac_mappings: get("ovn-chassis-mac-mappings").unwrap_or("").to_string(),
            monitor_all: parse_bool("ovn-monitor-all", get("ovn-monitor-all"), false)?,
            is_interconn: parse_bool("ovn-is-interconn", get("ovn-is-interconn"), false)?,
            iface_types: row.get("iface_types").strings().map(str::to_string).collect(),
            system_id,
        })
    }

    /// The encapsulation we register in our `Encap` row (the first configured).
    pub fn encap_type(&self) -> EncapType {
        self.encap_types.first().copied().unwrap_or(EncapType::Geneve)
    }

    /// The integration bridge's datapath type as the Southbound should see it: the configured one, else the
    /// bridge's current one, else "" (the switch's default, `system`).
    pub fn datapath_type(&self) -> &str {
        self.bridge_datapath_type.as_deref().or(self.observed_datapath_type.as_deref()).unwrap_or("")
    }
}

/// Non-empty, trimmed members of a comma-separated list.
fn list(s: &str) -> impl Iterator<Item = &str> {
    s.split(',').map(str::trim).filter(|x| !x.is_empty())
}

fn first_of_list(s: &str) -> Option<&str> {
    list(s).next()
}

fn parse_bool(key: &'static str, v: Option<&str>, default: bool) -> Result<bool, ConfigError> {
    match v {
        None => Ok(default),
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(other) => Err(ConfigError::BadBool { key, value: other.to_string() }),
    }
}

/// Parses `physnet1:br-eth0,physnet2:br-eth1`. Empty entries (a trailing comma) are ignored; an entry
/// without both a network and a bridge, or a network mapped twice, is an error naming it.
pub fn parse_bridge_mappings(s: &str) -> Result<BTreeMap<String, String>, ConfigError> {
    let mut m = BTreeMap::new();
    for entry in list(s) {
        let bad = || ConfigError::BadBridgeMapping { entry: entry.to_string() };
        let (network, bridge) = entry.split_once(':').ok_or_else(bad)?;
        let (network, bridge) = (network.trim(), bridge.trim());
        if network.is_empty() || bridge.is_empty() || bridge.contains(':') {
            return Err(bad());
        }
        if m.insert(network.to_string(), bridge.to_string()).is_some_and(|old| old != bridge) {
            return Err(ConfigError::DuplicateBridgeMapping { network: network.to_string() });
        }
    }
    Ok(m)
}

/// The machine's host name (`/proc/sys/kernel/hostname`, else `/etc/hostname`, else `localhost`): the
/// `Chassis.hostname` default, as `ovn-controller` uses `gethostname()`.
pub fn system_hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
        .find(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{ovs_replica, OvsBuilder};

    fn cfg(ids: &[(&str, &str)]) -> Result<LocalConfig, ConfigError> {
        let mut b = OvsBuilder::new();
        b.open_vswitch(ids);
        LocalConfig::from_ovs_with_hostname(&b.build(), "host-a")
    }

    #[test]
    fn reads_the_keys_with_their_defaults() {
        let c = cfg(&[("system-id", "ch1"), ("ovn-encap-ip", "192.168.0.1")]).unwrap();
        assert_eq!(c.system_id, "ch1");
        assert_eq!(c.hostname, "host-a");
        assert_eq!(c.encap_types, vec![EncapType::Geneve]);
        assert_eq!(c.encap_type(), EncapType::Geneve);
        assert_eq!(c.encap_ip, "192.168.0.1");
        assert!(c.encap_csum);
        assert!(c.bridge_mappings.is_empty());
        assert_eq!(c.integration_bridge, "br-int");
        assert_eq!(c.bridge_datapath_type, None);
        assert_eq!(c.remote, None);
        assert_eq!(c.datapath_type(), "");
        assert!(!c.monitor_all);
    }

    #[test]
    fn reads_every_key() {
        let c = cfg(&[
            ("system-id", "ch1"),
            ("hostname", "node-1"),
            ("ovn-remote", "unix:/tmp/sb.sock"),
            ("ovn-encap-type", "vxlan, geneve"),
            ("ovn-encap-ip", "10.0.0.1,10.0.0.2"),
            ("ovn-encap-csum", "false"),
            ("ovn-bridge-mappings", "physnet:br-phys, external:br-ex,"),
            ("ovn-bridge", "br-ovn"),
            ("ovn-bridge-datapath-type", "netdev"),
            ("ovn-transport-zones", "tz1,tz2"),
            ("ovn-cms-options", "enable-chassis-as-gw"),
            ("ovn-monitor-all", "true"),
        ])
        .unwrap();
        assert_eq!(c.hostname, "node-1");
        assert_eq!(c.remote.as_deref(), Some("unix:/tmp/sb.sock"));
        assert_eq!(c.encap_types, vec![EncapType::Vxlan, EncapType::Geneve]);
        assert_eq!(c.encap_type(), EncapType::Vxlan, "the first listed is ours");
        assert_eq!(c.encap_ip, "10.0.0.1");
        assert!(!c.encap_csum);
        assert_eq!(c.bridge_mappings.get("physnet").map(String::as_str), Some("br-phys"));
        assert_eq!(c.bridge_mappings.get("external").map(String::as_str), Some("br-ex"));
        assert_eq!(c.bridge_mappings.len(), 2);
        assert_eq!(c.bridge_mappings_text, "physnet:br-phys, external:br-ex,");
        assert_eq!(c.integration_bridge, "br-ovn");
        assert_eq!(c.datapath_type(), "netdev");
        assert_eq!(c.transport_zones, BTreeSet::from(["tz1".to_string(), "tz2".to_string()]));
        assert_eq!(c.cms_options, "enable-chassis-as-gw");
        assert!(c.monitor_all);
    }

    #[test]
    fn missing_and_bad_values_name_the_key() {
        let e = cfg(&[("ovn-encap-ip", "10.0.0.1")]).unwrap_err();
        assert!(matches!(e, ConfigError::Missing { key: "system-id", .. }), "{e}");
        assert!(e.to_string().contains("external_ids:system-id is not set"), "{e}");

        let e = cfg(&[("system-id", "a")]).unwrap_err();
        assert!(e.to_string().contains("external_ids:ovn-encap-ip is not set"), "{e}");

        let e = cfg(&[("system-id", "a"), ("ovn-encap-ip", "10.0.0.300")]).unwrap_err();
        assert_eq!(e, ConfigError::BadEncapIp { value: "10.0.0.300".into() });

        let e = cfg(&[("system-id", "a"), ("ovn-encap-ip", "10.0.0.1"), ("ovn-encap-type", "geneve,gre")]).unwrap_err();
        assert_eq!(e, ConfigError::BadEncapType { value: "gre".into() });
        assert!(e.to_string().contains("\"gre\""), "{e}");

        let e = cfg(&[("system-id", "a"), ("ovn-encap-ip", "10.0.0.1"), ("ovn-encap-csum", "yes")]).unwrap_err();
        assert!(e.to_string().contains("ovn-encap-csum: \"yes\""), "{e}");

        let e = LocalConfig::from_ovs_with_hostname(&ovs_replica(), "h").unwrap_err();
        assert_eq!(e, ConfigError::NoOpenVswitchRow);
    }

    #[test]
    fn bridge_mappings_errors_name_the_entry() {
        for bad in ["physnet", "physnet:", ":br-x", "a:b:c"] {
            let e = parse_bridge_mappings(&format!("ok:br-ok,{bad}")).unwrap_err();
            assert_eq!(e, ConfigError::BadBridgeMapping { entry: bad.to_string() });
            assert!(e.to_string().contains(&format!("{bad:?}")), "{e}");
        }
        let e = parse_bridge_mappings("a:br-1,a:br-2").unwrap_err();
        assert_eq!(e, ConfigError::DuplicateBridgeMapping { network: "a".into() });
        assert_eq!(parse_bridge_mappings("a:br-1,a:br-1").unwrap().len(), 1, "a repeated identical entry is harmless");
        assert!(parse_bridge_mappings("").unwrap().is_empty());
        let e = cfg(&[("system-id", "a"), ("ovn-encap-ip", "10.0.0.1"), ("ovn-bridge-mappings", "physnet-br")]).unwrap_err();
        assert!(e.to_string().contains("ovn-bridge-mappings: bad entry \"physnet-br\""), "{e}");
    }

    #[test]
    fn reports_the_existing_bridge_datapath_type_unless_configured() {
        let mut b = OvsBuilder::new();
        b.open_vswitch(&[("system-id", "a"), ("ovn-encap-ip", "10.0.0.1")]);
        b.bridge("br-int", &[("datapath_type", "netdev".into())]);
        let c = LocalConfig::from_ovs_with_hostname(&b.build(), "h").unwrap();
        assert_eq!(c.bridge_datapath_type, None);
        assert_eq!(c.datapath_type(), "netdev");
    }

    #[test]
    fn system_hostname_is_not_empty() {
        assert!(!system_hostname().is_empty());
    }
}
