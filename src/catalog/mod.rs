//! The catalog: which IAM action(s) an ECS API call or CTS trace is, and what each action
//! depends on. `model` is the data, `text` its file format, `rst` the documentation
//! importer, `compiled` the lookup tables built once at start-up.

pub mod model;
pub mod text;
