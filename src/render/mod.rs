//! Renderers of an answer: the bytes a client gets for what [`crate::service`]
//! found. Rendering decides nothing: the lookup, its warnings and its status
//! are settled before a renderer is called.
//!
//! - [`json`]: the JSON answers of SPEC section 4, for apps and scripts.
//! - [`page`]: the consumer page of SPEC section 5, for a phone's browser,
//!   worded by [`words`].
//! - [`linkset`]: the linkset answer of a Digital Link, SPEC section 6.

pub mod json;
pub mod linkset;
pub mod page;
pub mod words;

pub use words::Lang;

/// Which renderer answers, with what it needs.
#[derive(Clone, Copy, Debug)]
pub enum Format<'a> {
    Json,
    Page(page::Context<'a>),
}
