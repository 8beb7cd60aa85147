//! The syntax tree of a match expression, and its canonical text (parse -> format -> parse is stable).

use std::fmt;

use super::lexer::Num;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl RelOp {
    /// The operator that holds exactly when this one does not.
    pub fn invert(self) -> RelOp {
        match self {
            RelOp::Eq => RelOp::Ne,
            RelOp::Ne => RelOp::Eq,
            RelOp::Lt => RelOp::Ge,
            RelOp::Le => RelOp::Gt,
            RelOp::Gt => RelOp::Le,
            RelOp::Ge => RelOp::Lt,
        }
    }

    /// The operator with its operands swapped (`1 < x` is `x > 1`).
    pub fn reverse(self) -> RelOp {
        match self {
            RelOp::Lt => RelOp::Gt,
            RelOp::Le => RelOp::Ge,
            RelOp::Gt => RelOp::Lt,
            RelOp::Ge => RelOp::Le,
            other => other,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RelOp::Eq => "==",
            RelOp::Ne => "!=",
            RelOp::Lt => "<",
            RelOp::Le => "<=",
            RelOp::Gt => ">",
            RelOp::Ge => ">=",
        }
    }
}

/// A symbol, optionally with a bit range: `eth.src`, `reg0[0..15]`, `eth.dst[40]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRef {
    pub name: String,
    /// Inclusive bit range `lo..=hi`.
    pub range: Option<(u16, u16)>,
}

impl fmt::Display for FieldRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        match self.range {
            Some((lo, hi)) if lo == hi => write!(f, "[{lo}]"),
            Some((lo, hi)) => write!(f, "[{lo}..{hi}]"),
            None => Ok(()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Num(Num),
    Str(String),
    /// `$name`
    AddrSet(String),
    /// `@name`
    PortGroup(String),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Num(n) => write!(f, "{n}"),
            Value::Str(s) => write!(f, "{}", serde_json::Value::String(s.clone())),
            Value::AddrSet(s) => write!(f, "${s}"),
            Value::PortGroup(s) => write!(f, "@{s}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    Bool(bool),
    /// `field OP value` or `field OP {v1, v2, ...}`.
    Cmp {
        field: FieldRef,
        op: RelOp,
        values: Vec<Value>,
        set: bool,
    },
    /// A one-bit field or a predicate on its own: `vlan.present`, `ip4`.
    Bare(FieldRef),
    /// `is_chassis_resident("port")`.
    Func {
        name: String,
        args: Vec<String>,
    },
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn sub(e: &Expr, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match e {
                Expr::And(_) | Expr::Or(_) => write!(f, "({e})"),
                _ => write!(f, "{e}"),
            }
        }
        match self {
            Expr::Bool(b) => f.write_str(if *b { "1" } else { "0" }),
            Expr::Cmp { field, op, values, set } => {
                write!(f, "{field} {} ", op.as_str())?;
                if *set || values.len() != 1 {
                    let items: Vec<String> = values.iter().map(|v| v.to_string()).collect();
                    write!(f, "{{{}}}", items.join(", "))
                } else {
                    write!(f, "{}", values[0])
                }
            }
            Expr::Bare(field) => write!(f, "{field}"),
            Expr::Func { name, args } => {
                let a: Vec<String> = args.iter().map(|s| serde_json::Value::String(s.clone()).to_string()).collect();
                write!(f, "{name}({})", a.join(", "))
            }
            Expr::Not(e) => match **e {
                Expr::Bare(_) | Expr::Bool(_) | Expr::Func { .. } => write!(f, "!{e}"),
                _ => write!(f, "!({e})"),
            },
            Expr::And(es) | Expr::Or(es) => {
                let sep = if matches!(self, Expr::And(_)) { " && " } else { " || " };
                for (i, e) in es.iter().enumerate() {
                    if i > 0 {
                        f.write_str(sep)?;
                    }
                    sub(e, f)?;
                }
                Ok(())
            }
        }
    }
}
