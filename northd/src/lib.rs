//! northd
