//! Match expressions: lexer -> parser -> (annotation against the symbol table, simplification,
//! normalization) -> OpenFlow matches.

pub mod ast;
pub mod lexer;
pub mod parse;
pub mod symtab;

pub use ast::{Expr, FieldRef, RelOp, Value};
pub use lexer::{Num, NumFormat, SyntaxError};
pub use parse::parse;
