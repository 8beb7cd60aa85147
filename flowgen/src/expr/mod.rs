//! Match expressions: lexer -> parser -> (annotation against the symbol table, simplification,
//! normalization) -> OpenFlow matches.

pub mod ast;
pub mod compile;
#[cfg(test)]
mod compile_tests;
pub mod lexer;
pub mod parse;
pub mod symtab;

pub use ast::{Expr, FieldRef, RelOp, Value};
pub use compile::{compile, compile_str, Compiled, Conj, Lookup, NoLookup};
pub use lexer::{Num, NumFormat, SyntaxError};
pub use parse::parse;
